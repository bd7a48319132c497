import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';

/** Synchronous work at the start of a request (nothing to wait for: the caller goes on at once). */
export type RouteHook = (request: FastifyRequest, reply: FastifyReply) => void;

interface Chooser {
  hookFor: (route: Pick<RouteOptions, 'url' | 'config'>) => RouteHook | undefined;
  unmatched: RouteHook;
}

const choosers = new WeakMap<FastifyInstance, Chooser[]>();

/**
 * Work chosen once per route when the route is added (from its pattern and config), so a request
 * pays no lookup of its route; requests no route matched get `unmatched`. Every caller's hooks of
 * one route run in a single `onRequest` hook, and one instance hook serves every `unmatched`:
 * each hook Fastify runs is a step of its hook runner on every request (`/health` ran three).
 * Call before the routes (and the plugins that add some) are registered; hooks run in call order.
 */
export function addRouteHooks(app: FastifyInstance, hookFor: Chooser['hookFor'], unmatched: RouteHook): void {
  const existing = choosers.get(app);
  if (existing) {
    existing.push({ hookFor, unmatched });
    return;
  }
  const all: Chooser[] = [{ hookFor, unmatched }];
  choosers.set(app, all);
  app.addHook('onRoute', (route) => {
    const hooks = all.map((c) => c.hookFor(route)).filter((h): h is RouteHook => h !== undefined);
    if (hooks.length === 0) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // A new array: Fastify shares the options' arrays with the HEAD route it derives from a GET.
    route.onRequest = [...own, combined(hooks)];
  });
  // The not-found context runs only the instance's hooks; `is404` is one property read.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.is404) for (const c of all) c.unmatched(request, reply);
    done();
  });
}

function combined(hooks: RouteHook[]): onRequestHookHandler {
  return (request, reply, done) => {
    for (const h of hooks) h(request, reply);
    done();
  };
}
