/** Strict Server-Sent Events framing: one function per line kind, nothing else. */

export interface SseFrame {
  id?: string;
  event?: string;
  /** Serialised payload; any line breaks become separate `data:` lines. */
  data: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Refuses an id or event name a client would mis-parse instead of emitting a broken stream. */
function assertSingleLine(field: 'id' | 'event' | 'comment', value: string): void {
  if (/[\r\n\0]/.test(value)) throw new TypeError(`SSE ${field} must be a single line without NUL: ${JSON.stringify(value)}`);
}

export function encodeSseFrame(frame: SseFrame): string {
  let out = '';
  if (frame.event !== undefined) {
    assertSingleLine('event', frame.event);
    out += `event: ${frame.event}\n`;
  }
  if (frame.id !== undefined) {
    assertSingleLine('id', frame.id);
    out += `id: ${frame.id}\n`;
  }
  for (const line of frame.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return `${out}\n`;
}

export function encodeSseRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/** A comment line: keeps proxies and load balancers from timing the stream out. */
export function encodeSseComment(text = ''): string {
  assertSingleLine('comment', text);
  return `:${text ? ` ${text}` : ''}\n\n`;
}

/** Response headers every SSE stream sends (never compressed, never buffered by proxies). */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
  'Content-Encoding': 'identity',
};
