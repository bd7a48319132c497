import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';
import { addRouteHooks, type RouteHook } from './route-hooks.js';
import { isApiPath } from './web-app.js';

/**
 * The web app's CSP: everything from this origin, nothing inline but style attributes (KaTeX
 * writes its layout as `style="…"` in the HTML it renders). No `upgrade-insecure-requests`:
 * a server on a LAN may be plain HTTP. Streams and WebSockets go to this origin (`connect-src 'self'`).
 */
export const WEB_APP_CSP = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
  'style-src-attr': ["'unsafe-inline'"],
};

type Headers = Readonly<Record<string, string>>;

/** API and stream answers: only what applies to them (nosniff, no referrer). */
const API_HEADERS: Headers = Object.freeze({ 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });

/**
 * Pages (the web app and `/docs`): helmet's set with the CSP above. With static directives its
 * headers depend on its options alone, never on the request, so they are taken once from a
 * response that records them instead of running the middleware on every request.
 */
const PAGE_HEADERS: Headers = Object.freeze(
  headersSetBy(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: WEB_APP_CSP },
      strictTransportSecurity: false,
      referrerPolicy: { policy: 'no-referrer' },
    }),
  ),
);

function headersSetBy(middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string) => void (headers[name.toLowerCase()] = value),
    removeHeader: () => undefined,
  };
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (err) => {
    if (err) throw err;
  });
  return headers;
}

/** The set for a route (`openapi` config: it was declared with api()) or an unmatched path. */
function headersFor(path: string, declaredApi: boolean): Headers {
  return declaredApi || (isApiPath(path) && !path.startsWith('/docs')) ? API_HEADERS : PAGE_HEADERS;
}

const hooks = new Map<Headers, RouteHook>(
  [API_HEADERS, PAGE_HEADERS].map((headers) => [
    headers,
    (_request, reply) => {
      reply.headers(headers);
    },
  ]),
);

/**
 * Security headers, chosen once per route when it is added (no per-request lookup) and put on
 * the reply, so Fastify writes them with its own in one `writeHead` (headers set on the raw
 * response make Node merge every header one `setHeader` at a time). Streams written past Fastify
 * take them along (http/hijack.ts). `/docs` replaces the CSP with swagger-ui's own (an onSend hook,
 * http/openapi.ts). HSTS is the TLS proxy's call. Install before any route (CORS's preflight too).
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  addRouteHooks(
    app,
    (route) => hooks.get(headersFor(route.url ?? '', route.config?.openapi !== undefined)),
    (request, reply) => {
      reply.headers(headersFor(request.url.split('?')[0]!, false));
    },
  );
}
