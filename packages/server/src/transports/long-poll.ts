import { positionAtOpen, recoveryFields, startAt, type ChannelAccess } from '../realtime/access.js';
import { envelopeOf, type Envelope } from '../realtime/envelope.js';
import { formatCursor, type Cursor } from '../realtime/positions.js';
import type { RecoveryInfo, Sink } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';

export interface PollAnswer {
  /** Send it back as `cursor` on the next poll. */
  cursor: string;
  channels: ({ channel: string } & ReturnType<typeof recoveryFields>)[];
  events: Envelope[];
}

/**
 * One long-poll: answers at once when there are events after the cursor, a channel could not
 * be recovered, or a channel had no position yet; otherwise waits for the first event (and
 * whatever follows within `lingerMs`, so a busy channel is not one request per event) or the timeout. Same recovery as every transport.
 */
export async function pollChannels(
  access: ChannelAccess,
  opts: { channels: string[]; cursor: Cursor; timeoutMs: number; lingerMs: number; signal: AbortSignal },
): Promise<PollAnswer> {
  const positions = opts.cursor.slice();
  const answers: PollAnswer['channels'] = [];
  const events: Envelope[] = [];
  let news = opts.cursor.some((p) => p === null);
  let wake!: () => void;
  const woken = new Promise<void>((resolve) => {
    wake = resolve;
  });
  let scheduled = false;
  const soon = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(wake, opts.lingerMs);
  };

  const sinkFor = (i: number, channel: string): Sink => ({
    open(info: RecoveryInfo) {
      positions[i] = positionAtOpen(info);
      answers[i] = { channel, ...recoveryFields(info) };
      if (info.recovered) access.metrics.missedEventsReplayed += info.replayed;
      else news = true;
    },
    send(event: LogEvent) {
      positions[i] = { epoch: event.epoch, seq: event.seq };
      events.push(envelopeOf(event));
      access.metrics.eventsDelivered++;
      soon();
    },
    backlog: () => 0,
    end: () => wake(),
  });

  const subs = await Promise.all(opts.channels.map((channel, i) => access.hub.subscribe(channel, startAt(opts.cursor[i]), sinkFor(i, channel))));
  try {
    if (!news && events.length === 0 && !opts.signal.aborted) {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => wake();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      await Promise.race([
        woken,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, opts.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
    }
  } finally {
    for (const sub of subs) sub.close();
  }
  return { cursor: formatCursor(positions), channels: answers, events };
}
