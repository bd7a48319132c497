import { channelQuery, formatCursor, HttpTransportRun, recoveryOf, type Transport, type TransportContext } from './transport.js';

/** Long-poll: one request at a time, the cursor built from the client's positions. */
export function pollTransport(ctx: TransportContext): Transport {
  const run = new HttpTransportRun(ctx);
  let restart = false;

  run.run(async () => {
    const answered = new Set<string>();
    while (!run.done) {
      const wanted = ctx.channels();
      if (wanted.length === 0) return run.finish({ reason: 'no channels' });
      const query = channelQuery(ctx, { cursor: formatCursor(wanted.map((c) => c.position)), timeoutMs: String(ctx.pollTimeoutMs) });
      let res: Response;
      try {
        res = await ctx.fetch(`${ctx.baseUrl}/v1/poll?${query}`, { signal: run.signal });
      } catch (err) {
        if (restart && !run.done) {
          restart = false;
          run.renew();
          continue;
        }
        throw err;
      }
      if (res.status !== 200) return run.refused(res);
      const answer = await res.json();
      if (run.done) return;
      if (!run.opened) run.open(ctx.pollTimeoutMs + 15_000);
      ctx.events.alive();
      for (const c of answer.channels) {
        // Each poll re-answers recovery; the client hears a channel's first answer and every failure.
        if (!answered.has(c.channel) || !c.recovered) ctx.events.recovery(c.channel, recoveryOf(c));
        answered.add(c.channel);
      }
      for (const e of answer.events) ctx.events.event(e);
    }
  });

  return {
    name: 'poll',
    sync() {
      // The next poll carries the new channel set; cut the waiting one short.
      restart = true;
      run.abortRequest();
    },
    close: () => run.finish({ reason: 'closed by client' }),
  };
}
