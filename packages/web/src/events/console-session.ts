import {
  RealtimeClient,
  type ChannelEvent,
  type ConnectionState,
  type RealtimeOptions,
  type RealtimeSubscription,
  type Recovery,
  type TransportName,
} from '@tributary/client';

/** What the console shows for one subscribed channel. */
export interface ChannelView {
  channel: string;
  /** `pending` until the server's first answer; then the latest answer. */
  status: 'pending' | 'recovered' | 'not_recovered';
  answer?: Recovery;
}

export interface ReceivedEvent extends ChannelEvent {
  /** Unique per event: channel and position. */
  key: string;
}

/** A `recovered: false` answer, kept so the admin sees that events may be missing. */
export interface Notice {
  key: number;
  channel: string;
  reason: string;
  top: { epoch: string; seq: number };
  at: number;
}

export const MAX_EVENTS = 200;
export const MAX_NOTICES = 20;

/**
 * The console's live state over one RealtimeClient: channels, the newest events first (at most
 * MAX_EVENTS), recovery notices and the connection. Knows nothing of React; the page reads
 * `snapshot` and re-renders on `listen`.
 */
export class ConsoleSession {
  private readonly client: RealtimeClient;
  private readonly subs = new Map<string, RealtimeSubscription>();
  private readonly listeners = new Set<() => void>();
  private noticeKey = 0;
  snapshot: {
    connection: { state: ConnectionState; transport?: TransportName };
    channels: ChannelView[];
    events: ReceivedEvent[];
    notices: Notice[];
    errors: { channel: string; code: string; message: string }[];
  } = { connection: { state: 'idle' }, channels: [], events: [], notices: [], errors: [] };

  constructor(opts: RealtimeOptions = {}) {
    this.client = new RealtimeClient(opts);
    this.client.onState((state, transport) => this.update({ connection: { state, transport: state === 'connected' ? transport : undefined } }));
  }

  /** Subscribes live from now; false if already subscribed. */
  subscribe(channel: string): boolean {
    if (this.subs.has(channel)) return false;
    this.update({ channels: [...this.snapshot.channels, { channel, status: 'pending' }], errors: this.snapshot.errors.filter((e) => e.channel !== channel) });
    const sub = this.client.subscribe(channel, {
      onEvent: (e) => this.received(e),
      onRecovery: (answer) => this.answered(channel, answer),
      onError: (err) => this.refused(channel, err),
    });
    this.subs.set(channel, sub);
    return true;
  }

  unsubscribe(channel: string): void {
    this.subs.get(channel)?.unsubscribe();
    this.subs.delete(channel);
    this.update({ channels: this.snapshot.channels.filter((c) => c.channel !== channel) });
  }

  clearEvents(): void {
    this.update({ events: [], notices: [] });
  }

  close(): void {
    this.client.close();
    this.listeners.clear();
  }

  listen = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = () => this.snapshot;

  private received(e: ChannelEvent): void {
    const event: ReceivedEvent = { ...e, key: `${e.channel}@${e.epoch}:${e.seq}` };
    this.update({ events: [event, ...this.snapshot.events].slice(0, MAX_EVENTS) });
  }

  private answered(channel: string, answer: Recovery): void {
    const channels = this.snapshot.channels.map((c) =>
      c.channel === channel ? { channel, status: answer.recovered ? ('recovered' as const) : ('not_recovered' as const), answer } : c,
    );
    if (answer.recovered) return this.update({ channels });
    const notice: Notice = { key: ++this.noticeKey, channel, reason: answer.reason, top: answer.top, at: Date.now() };
    this.update({ channels, notices: [notice, ...this.snapshot.notices].slice(0, MAX_NOTICES) });
  }

  private refused(channel: string, err: { code: string; message: string }): void {
    this.subs.delete(channel);
    this.update({
      channels: this.snapshot.channels.filter((c) => c.channel !== channel),
      errors: [{ channel, ...err }, ...this.snapshot.errors.filter((e) => e.channel !== channel)],
    });
  }

  private update(patch: Partial<ConsoleSession['snapshot']>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const l of this.listeners) l();
  }
}
