import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';
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

/**
 * Security headers. Pages (the web app and `/docs`) get helmet's set with the CSP above; API and
 * stream responses only what applies to them (nosniff, no referrer): two headers instead of a
 * dozen on the hot routes. Set on the raw response so hijacked streams carry them too.
 * `/docs` replaces the CSP with swagger-ui's own (http/openapi.ts). HSTS is the TLS proxy's call.
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  // Built once: @fastify/helmet would rebuild the middleware (and its CSP string) on every request.
  const pageHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: WEB_APP_CSP },
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    const res = reply.raw;
    // Every API route declares itself with api() (http/openapi.ts): one property read on the hot path.
    const api = request.routeOptions.config.openapi !== undefined || (isApiPath(request.url) && !request.url.startsWith('/docs'));
    if (!api) return void pageHeaders(request.raw, res, (err) => done(err as Error | undefined));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    done();
  });
}
