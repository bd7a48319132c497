import http from 'node:http';
import { SseParser, type SseMessage } from '../../../client/src/sse-parser.js';

export interface TimedMessage extends SseMessage {
  /** ms since the request was sent */
  t: number;
  json: any;
}

export interface SseResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  messages: TimedMessage[];
  /** Raw bytes received (for framing assertions). */
  raw: string;
  /** True when the server ended the response. */
  ended: boolean;
}

/**
 * Opens an SSE request with a raw HTTP client. `until` may return 'drop' to cut the
 * connection (like a network failure) or 'stop' to stop reading politely.
 */
export function sseRequest(
  url: string,
  opts: { method?: string; body?: unknown; headers?: Record<string, string>; until?: (m: TimedMessage, all: TimedMessage[]) => 'drop' | 'stop' | void } = {},
): Promise<SseResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = http.request(url, {
      method: opts.method ?? (data ? 'POST' : 'GET'),
      headers: { Accept: 'text/event-stream', ...(data ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const result: SseResult = { status: res.statusCode ?? 0, headers: res.headers, messages: [], raw: '', ended: false };
      const parser = new SseParser();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve(result);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (done) return;
        result.raw += chunk;
        const parsed = parser.push(chunk);
        for (let i = 0; i < parsed.length; i++) {
          const m = parsed[i]!;
          // Seed streams send each event's id in a `position` frame right after it: give it to the event.
          if (m.event === 'position' && foldPosition(result.messages, m)) continue;
          let json: any;
          try {
            json = JSON.parse(m.data);
          } catch {
            json = undefined;
          }
          const timed: TimedMessage = { ...m, t: performance.now() - t0, json };
          result.messages.push(timed);
          const verdict = opts.until?.(timed, result.messages);
          if (verdict === 'drop' || verdict === 'stop') {
            while (parsed[i + 1]?.event === 'position') foldPosition(result.messages, parsed[++i]!);
            req.destroy();
            finish();
            return;
          }
        }
      });
      res.on('end', () => {
        result.ended = true;
        finish();
      });
      res.on('close', finish);
    });
    req.end(data);
  });
}

function foldPosition(messages: TimedMessage[], position: SseMessage): boolean {
  const event = messages.at(-1);
  if (!event) return false;
  event.id = position.id;
  return true;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}
