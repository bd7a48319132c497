import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { ConfigInput } from '../../src/config/schema.js';
import { startServer, type TestServer } from './server.js';

export const PUBLISH_KEY = 'test-publish-key-0123456789';
export const TOKEN_SECRET = 'test-token-secret-0123456789abcdef';

/** A real server with publishing and connection tokens configured. */
export function startRealtimeServer(overrides: ConfigInput = {}): Promise<TestServer> {
  return startServer({ ...overrides, realtime: { publishKey: PUBLISH_KEY, tokenSecret: TOKEN_SECRET, ...overrides.realtime } });
}

export async function publish(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${PUBLISH_KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** Publishes n events `{i}` to a channel; returns the epoch. */
export async function publishN(url: string, channel: string, n: number, from = 1): Promise<string> {
  const events = Array.from({ length: n }, (_, k) => ({ channel, data: { i: from + k } }));
  const { status, json } = await publish(url, { events });
  if (status !== 200) throw new Error(`publish ${status} ${JSON.stringify(json)}`);
  return json.results[0].epoch;
}

export function mintToken(
  claims: { sub: string; org?: string; channels?: string[] },
  opts: { secret?: string; expiresIn?: string | number } = {},
): Promise<string> {
  const { sub, ...rest } = claims;
  return new SignJWT(rest)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(opts.secret ?? TOKEN_SECRET));
}

/** A raw WebSocket client that records every JSON frame and the close code. */
export class RawWs {
  readonly messages: any[] = [];
  /** Messages per received frame (the native protocol batches replays: several lines per frame). */
  readonly frameSizes: number[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const lines = data.toString().split('\n');
      this.frameSizes.push(lines.length);
      for (const line of lines) this.record(line);
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  private record(line: string): void {
    let m: any;
    try {
      m = JSON.parse(line);
    } catch {
      m = { raw: line };
    }
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(m)) return true;
      w.resolve(m);
      return false;
    });
  }

  static async open(url: string, opts: WebSocket.ClientOptions = {}): Promise<RawWs> {
    const ws = new WebSocket(url, opts);
    const client = new RawWs(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return client;
  }

  /** Opens the native protocol and completes `connect`. */
  static async native(base: string, token?: string, opts: WebSocket.ClientOptions = {}): Promise<RawWs> {
    const client = await RawWs.open(`${base.replace(/^http/, 'ws')}/v1/ws`, opts);
    client.send({ type: 'connect', version: 1, ...(token ? { token } : {}) });
    const first = await client.next((m) => m.type === 'connected' || m.type === 'error');
    if (first.type !== 'connected') throw new Error(`connect refused: ${JSON.stringify(first)}`);
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first recorded message (from `after`) matching pred, now or when it arrives. */
  next(pred: (m: any) => boolean, timeoutMs = 5_000, after = 0): Promise<any> {
    const found = this.messages.slice(after).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Waits until `count` messages match. */
  async until(pred: (m: any) => boolean, count: number, timeoutMs = 5_000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.filter(pred).length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.messages.filter(pred).length}/${count} messages`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.messages.filter(pred);
  }

  close(): void {
    this.ws.close();
  }
}

export async function poll(url: string, query: Record<string, string>): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/poll?${new URLSearchParams(query)}`);
  return { status: res.status, json: await res.json() };
}

export async function metrics(url: string): Promise<any> {
  return (await fetch(`${url}/v2/realtime/metrics`)).json();
}
