import { positionAtOpen, recoveryFields, startAt, type ChannelAccess } from '../realtime/access.js';
import type { Identity } from '../realtime/auth.js';
import { envelopeJson } from '../realtime/envelope.js';
import { encodeOnce } from '../streams/encode-once.js';
import { formatCursor, type Cursor } from '../realtime/positions.js';
import type { EndReason, RecoveryInfo, Sink, Subscription } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';
import { encodeSseFrame } from './sse-frame.js';
import type { SseResponse } from './sse-stream.js';

/** `event: <type>` + `data: <envelope>`, once per event; the `id:` line is per connection. */
const eventBody = encodeOnce((e) => encodeSseFrame({ event: e.type, data: envelopeJson(e) }));

/**
 * Many channels on one SSE response. Every frame's `id:` is the cursor of all channels
 * (positions.ts), so `Last-Event-ID` resumes each channel where it was. The recovery answer
 * of each channel is an `event: recovery` frame, with the cursor as id too.
 */
export async function streamChannels(access: ChannelAccess, sse: SseResponse, opts: { identity: Identity; channels: string[]; cursor: Cursor }): Promise<void> {
  const { metrics, hub } = access;
  const positions = opts.cursor.slice();
  const release = metrics.connected('sse', opts.identity);
  const subs: Subscription[] = [];
  let gone = false;
  sse.res.on('close', () => {
    gone = true;
    release();
    for (const s of subs.splice(0)) s.close();
  });

  const sinkFor = (i: number, channel: string): Sink => ({
    open(info: RecoveryInfo) {
      positions[i] = positionAtOpen(info);
      if (info.recovered) metrics.missedEventsReplayed += info.replayed;
      sse.write(encodeSseFrame({ id: formatCursor(positions), event: 'recovery', data: JSON.stringify({ channel, ...recoveryFields(info) }) }));
    },
    send(event: LogEvent) {
      positions[i] = { epoch: event.epoch, seq: event.seq };
      sse.write(`id: ${formatCursor(positions)}\n${eventBody(event)}`);
      metrics.eventsDelivered++;
    },
    backlog: () => (sse.closed ? 0 : sse.backlog()),
    drained: () => sse.drained(),
    cork: () => sse.cork(),
    end(reason: EndReason) {
      if (reason === 'slow_consumer') {
        if (sse.closed) return; // another channel of this response already cut it
        metrics.slowConsumer(sse.backlog());
        sse.destroy();
      } else if (reason === 'shutdown') sse.end();
    },
  });

  await Promise.all(
    opts.channels.map(async (channel, i) => {
      const sub = await hub.subscribe(channel, startAt(opts.cursor[i]), sinkFor(i, channel));
      if (gone) sub.close();
      else subs.push(sub);
    }),
  );
}
