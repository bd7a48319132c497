import { SseParser } from '../sse-parser.js';
import { channelQuery, formatCursor, HttpTransportRun, recoveryOf, type Transport, type TransportContext } from './transport.js';

/** Multi-channel SSE over fetch (works in browsers and Node): one stream per channel set. */
export function sseTransport(ctx: TransportContext): Transport {
  const run = new HttpTransportRun(ctx);

  run.run(async () => {
    const wanted = ctx.channels();
    const cursor = formatCursor(wanted.map((c) => c.position));
    const res = await ctx.fetch(`${ctx.baseUrl}/v1/subscribe?${channelQuery(ctx)}`, {
      headers: { Accept: 'text/event-stream', ...(wanted.some((c) => c.position) ? { 'Last-Event-ID': cursor } : {}) },
      signal: run.signal,
    });
    if (res.status !== 200 || !res.body) return run.refused(res);
    run.open(45_000); // three of the server's default 15 s heartbeats
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end || run.done) break;
      ctx.events.alive();
      for (const m of parser.push(decoder.decode(value, { stream: true }))) {
        const data = JSON.parse(m.data);
        if (m.event === 'recovery') ctx.events.recovery(data.channel, recoveryOf(data));
        else ctx.events.event(data);
      }
    }
    run.finish({ reason: 'stream ended' });
  });

  return {
    name: 'sse',
    // A new channel set needs a new stream: end this one, the client reconnects at once.
    sync: () => run.finish({ reason: 'channels changed' }),
    close: () => run.finish({ reason: 'closed by client' }),
  };
}
