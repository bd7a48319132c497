import { SseParser } from '../sse-parser.js';
import { channelQuery, formatCursor, reportRefusedChannel, type Transport, type TransportContext } from './transport.js';

/** Multi-channel SSE over fetch (works in browsers and Node): one stream per channel set. */
export function sseTransport(ctx: TransportContext): Transport {
  const abort = new AbortController();
  let opened = false;
  let done = false;
  const finish = (info: { code?: number; reason: string }) => {
    if (done) return;
    done = true;
    abort.abort();
    ctx.events.closed({ opened, ...info });
  };

  void (async () => {
    const wanted = ctx.channels();
    const cursor = formatCursor(wanted.map((c) => c.position));
    const res = await ctx.fetch(`${ctx.baseUrl}/v1/subscribe?${channelQuery(ctx)}`, {
      headers: { Accept: 'text/event-stream', ...(wanted.some((c) => c.position) ? { 'Last-Event-ID': cursor } : {}) },
      signal: abort.signal,
    });
    if (res.status !== 200 || !res.body) {
      const body = await res.text().catch(() => '');
      if (reportRefusedChannel(ctx, body)) return finish({ reason: 'channels changed' });
      return finish({ code: res.status, reason: body.slice(0, 200) || `HTTP ${res.status}` });
    }
    opened = true;
    ctx.events.open(45_000); // three of the server's default 15 s heartbeats
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end || done) break;
      ctx.events.alive();
      for (const m of parser.push(decoder.decode(value, { stream: true }))) {
        const data = JSON.parse(m.data);
        if (m.event === 'recovery') {
          ctx.events.recovery(data.channel, data.recovered ? { recovered: true, top: data.top, replayed: data.replayed } : { recovered: false, reason: data.reason, top: data.top });
        } else ctx.events.event(data);
      }
    }
    finish({ reason: 'stream ended' });
  })().catch((err: unknown) => finish({ reason: (err as Error)?.message ?? String(err) }));

  return {
    name: 'sse',
    // A new channel set needs a new stream: end this one, the client reconnects at once.
    sync: () => finish({ reason: 'channels changed' }),
    close: () => finish({ reason: 'closed by client' }),
  };
}
