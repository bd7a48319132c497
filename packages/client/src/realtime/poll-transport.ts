import { channelQuery, formatCursor, reportRefusedChannel, type Transport, type TransportContext } from './transport.js';

/** Long-poll: one request at a time, the cursor built from the client's positions. */
export function pollTransport(ctx: TransportContext): Transport {
  let abort = new AbortController();
  let opened = false;
  let done = false;
  let restart = false;
  const finish = (info: { code?: number; reason: string }) => {
    if (done) return;
    done = true;
    abort.abort();
    ctx.events.closed({ opened, ...info });
  };

  void (async () => {
    const answered = new Set<string>();
    while (!done) {
      const wanted = ctx.channels();
      if (wanted.length === 0) return finish({ reason: 'no channels' });
      const query = channelQuery(ctx, { cursor: formatCursor(wanted.map((c) => c.position)), timeoutMs: String(ctx.pollTimeoutMs) });
      let res: Response;
      try {
        res = await ctx.fetch(`${ctx.baseUrl}/v1/poll?${query}`, { signal: abort.signal });
      } catch (err) {
        if (restart && !done) {
          restart = false;
          abort = new AbortController();
          continue;
        }
        throw err;
      }
      if (res.status !== 200) {
        const body = await res.text().catch(() => '');
        if (reportRefusedChannel(ctx, body)) return finish({ reason: 'channels changed' });
        return finish({ code: res.status, reason: body.slice(0, 200) || `HTTP ${res.status}` });
      }
      const answer = await res.json();
      if (done) return;
      if (!opened) {
        opened = true;
        ctx.events.open(ctx.pollTimeoutMs + 15_000);
      }
      ctx.events.alive();
      for (const c of answer.channels) {
        // Each poll re-answers recovery; the client hears a channel's first answer and every failure.
        if (!answered.has(c.channel) || !c.recovered) ctx.events.recovery(c.channel, c.recovered ? { recovered: true, top: c.top, replayed: c.replayed } : { recovered: false, reason: c.reason, top: c.top });
        answered.add(c.channel);
      }
      for (const e of answer.events) ctx.events.event(e);
    }
  })().catch((err: unknown) => finish({ reason: (err as Error)?.message ?? String(err) }));

  return {
    name: 'poll',
    sync() {
      // The next poll carries the new channel set; cut the waiting one short.
      restart = true;
      abort.abort();
    },
    close: () => finish({ reason: 'closed by client' }),
  };
}
