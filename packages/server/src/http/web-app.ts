import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Paths that belong to the API: a miss there is a JSON 404, never the app's page. */
const API_PREFIXES = ['/v1', '/v2', '/api', '/health', '/ready', '/metrics', '/models', '/compare', '/chat', '/docs', '/openapi.json'];

/** packages/web/dist, seen from packages/server/{src,dist}/http. */
export const DEFAULT_WEB_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../web/dist');

const IMMUTABLE = 'public, max-age=31536000, immutable';

export function isApiPath(url: string): boolean {
  const path = url.split('?')[0]!;
  // `/compare` also covers `/compare-stream`, `/chat` covers `/chat-stream`.
  return API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}-`));
}

/**
 * Serves the built web app: hashed assets cached for good, index.html revalidated every time.
 * Returns the SPA fallback for the not-found handler: a browser's GET of a page outside the API gets index.html.
 */
export async function serveWebApp(app: FastifyInstance, dir = DEFAULT_WEB_DIR): Promise<(request: FastifyRequest, reply: FastifyReply) => boolean> {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) {
    app.log.warn(`web app not built (no ${index}); run \`npm run build\` to serve it at /`);
    app.get('/', (_request, reply) => reply.code(503).type('text/plain').send('The web app is not built. Run `npm run build`, then reload.\n'));
    return () => false;
  }
  const assets = join(dir, 'assets') + sep;
  await app.register(fastifyStatic, {
    root: dir,
    wildcard: false,
    cacheControl: false,
    setHeaders(res, path) {
      // Vite names everything under assets/ by content hash.
      res.setHeader('Cache-Control', path.startsWith(assets) ? IMMUTABLE : 'no-cache');
    },
  });
  return (request, reply) => {
    // Only a browser navigation (it asks for HTML) gets the page; API clients keep their JSON 404.
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    if (!request.headers.accept?.includes('text/html')) return false;
    const path = request.url.split('?')[0]!;
    if (isApiPath(path) || /\.[A-Za-z0-9]+$/.test(path)) return false;
    void reply.type('text/html; charset=utf-8').sendFile('index.html');
    return true;
  };
}
