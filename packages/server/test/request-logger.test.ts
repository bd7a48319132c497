import Fastify, { type FastifyBaseLogger } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { lazyRequestLogger } from '../src/http/request-logger.js';

function logger(level: string) {
  const lines: Record<string, unknown>[] = [];
  // Fastify's own logger (pino), as the app builds it.
  const parent = Fastify({ logger: { level, stream: { write: (l: string) => void lines.push(JSON.parse(l)) } } }).log;
  const child = vi.spyOn(parent, 'child');
  return { parent: parent as FastifyBaseLogger, lines, child };
}

const make = (parent: FastifyBaseLogger, options = {}) => lazyRequestLogger.call({} as never, parent, { reqId: 'req-7' }, options, {} as never);

describe('lazy request logger', () => {
  it('writes with the request bindings, building the child once, on the first enabled call', () => {
    const { parent, lines, child } = logger('info');
    const log = make(parent);
    expect(child).not.toHaveBeenCalled();
    log.info({ route: '/x' }, 'first');
    log.error('second %s', 'line');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.level, l.reqId, l.msg])).toEqual([
      [30, 'req-7', 'first'],
      [50, 'req-7', 'second line'],
    ]);
    expect(lines[0]!.route).toBe('/x');
  });

  it('builds nothing for calls the level drops, and follows a level set on it', () => {
    const { parent, lines, child } = logger('warn');
    const log = make(parent);
    log.info('dropped');
    log.debug('dropped');
    expect(child).not.toHaveBeenCalled();
    expect(log.level).toBe('warn');
    log.level = 'info';
    log.info('kept');
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([['req-7', 'kept']]);
  });

  it("honours a route's own level", () => {
    const { parent, lines } = logger('warn');
    const log = make(parent, { level: 'debug' });
    log.debug('route debug');
    expect(lines.map((l) => [l.level, l.reqId])).toEqual([[20, 'req-7']]);
  });
});
