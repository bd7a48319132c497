/** A point in a channel's log: its epoch and the last sequence number seen. */
export interface Position {
  epoch: string;
  seq: number;
}

/** One channel event, as every transport delivers it. */
export interface ChannelEvent<T = unknown> {
  channel: string;
  epoch: string;
  seq: number;
  /** The publisher's event type (`message` by default). */
  event: string;
  data: T;
  /** Publish time, ms since the Unix epoch. */
  time: number;
}

/** The server's answer when a subscription (re)starts: never a silent gap. */
export type Recovery = { recovered: true; top: Position; replayed: number } | { recovered: false; reason: string; top: Position };

export type TransportName = 'websocket' | 'sse' | 'poll';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The browser's WebSocket API (also what `ws` implements in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
