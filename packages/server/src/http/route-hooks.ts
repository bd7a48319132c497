import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify';

/**
 * An `onRequest` hook chosen once per route when the route is added (from its pattern and
 * config), so a request pays no lookup of its route; requests no route matched get `unmatched`.
 * Call before the routes (and the plugins that add some) are registered.
 */
export function addRouteHooks(
  app: FastifyInstance,
  hookFor: (route: Pick<RouteOptions, 'url' | 'config'>) => onRequestHookHandler | undefined,
  unmatched: onRequestHookHandler,
): void {
  app.addHook('onRoute', (route) => {
    const hook = hookFor(route);
    if (!hook) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // A new array: Fastify shares the options' arrays with the HEAD route it derives from a GET.
    route.onRequest = [...own, hook];
  });
  // The not-found context runs only the instance's hooks; `is404` is one property read.
  app.addHook('onRequest', function (request, reply, done) {
    if (request.is404) return unmatched.call(this, request, reply, done);
    done();
  });
}
