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

/**
 * A frame that carries a position, for streams whose readers keep only frames that are a lone
 * `data:` line (the seed routes): sent right after its event's data frame. Its name keeps it
 * from `onmessage`; its data is a JSON object of a type no client handles, so readers that take
 * every frame's data as JSON skip it, and EventSource implementations that record ids only from
 * dispatched events (the `eventsource` package) still record it.
 */
export const SSE_POSITION_DATA = '{"type":"position"}';

export function encodeSsePosition(id: string): string {
  return encodeSseFrame({ event: 'position', id, data: SSE_POSITION_DATA });
}

export function encodeSseRetry(ms: number): string {
  return `${retryLine(ms)}\n`;
}

function retryLine(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n`;
}

/**
 * Adds a `retry:` field to the last frame of `chunk` (which ends with a blank line), unless
 * that frame is a lone `data:` line: readers that JSON-parse such a frame whole would fail,
 * so the hint then goes in a frame of its own before it.
 */
export function withSseRetry(chunk: string, ms: number): string {
  if (!chunk.endsWith('\n\n')) throw new TypeError('SSE chunk must end with a complete frame');
  const before = chunk.lastIndexOf('\n\n', chunk.length - 3);
  const lastFrame = before === -1 ? chunk : chunk.slice(before + 2);
  if (lastFrame.startsWith('data:') && lastFrame.indexOf('\n') === lastFrame.length - 2) return encodeSseRetry(ms) + chunk;
  return `${chunk.slice(0, -1)}${retryLine(ms)}\n`;
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
