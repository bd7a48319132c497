import { ModelError } from '../provider.js';

/** One upstream Server-Sent Event. `event` is `message` when the stream named none. */
export interface UpstreamSseEvent {
  event: string;
  data: string;
}

/** Longest line we buffer; a peer that never sends a line break is broken, not slow. */
export const DEFAULT_MAX_LINE_CHARS = 4 * 1024 * 1024;

/**
 * Incremental parser for what a provider streams (WHATWG SSE field rules): any chunk
 * split, CRLF / CR / LF line ends (also split across chunks), comments, multi-line data,
 * a leading BOM, and UTF-8 sequences split across chunks. Unknown fields are ignored, as the
 * spec says; an over-long line is a classified `upstream_error`, never unbounded memory.
 */
export class UpstreamSseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private data: string | null = null;
  private event = '';
  private skipLeadingLf = false;
  private started = false;
  /** The decoder may hold the start of a UTF-8 sequence (its last input ended in a non-ASCII byte). */
  private partial = false;

  constructor(private readonly maxLineChars = DEFAULT_MAX_LINE_CHARS) {}

  /** Feeds bytes (or text); returns the events completed by them, in order. */
  push(chunk: Uint8Array | string): UpstreamSseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decode(chunk);
    if (text.length === 0) return [];
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLeadingLf) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    const buf = this.buffer.length === 0 ? text : this.buffer + text;
    const out: UpstreamSseEvent[] = [];
    let start = 0;
    if (buf.indexOf('\r') === -1) {
      // LF-only text (nearly every provider): find line ends natively instead of char by char.
      for (let lf = buf.indexOf('\n'); lf !== -1; lf = buf.indexOf('\n', start)) {
        // `data: …` (nearly every line) takes its value in one slice, without the line's own.
        if (buf.startsWith('data: ', start)) this.dataValue(buf.slice(start + 6, lf));
        else this.line(buf.slice(start, lf), out);
        start = lf + 1;
      }
      return this.keep(buf, start, out);
    }
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buf.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLeadingLf = true; // the LF of this CRLF may come in the next chunk
        }
      }
      start = i + 1;
    }
    return this.keep(buf, start, out);
  }

  /**
   * Bytes as text. Once past the stream's start (where the decoder drops a BOM), bytes that end in
   * ASCII with nothing held from before are whole UTF-8 and decode alike (replacement characters
   * included) with V8's own decoder, at a fraction of TextDecoder's cost: the common case per read.
   */
  private decode(chunk: Uint8Array): string {
    const n = chunk.length;
    if (this.started && !this.partial && n > 0 && chunk[n - 1]! < 0x80) {
      return (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, n)).toString('utf8');
    }
    if (n > 0) this.partial = chunk[n - 1]! >= 0x80;
    return this.decoder.decode(chunk, { stream: true });
  }

  /** Keeps the unfinished last line for the next push, within the line limit. */
  private keep(buf: string, start: number, out: UpstreamSseEvent[]): UpstreamSseEvent[] {
    this.buffer = start === 0 ? buf : buf.slice(start);
    if (this.buffer.length > this.maxLineChars) {
      throw new ModelError('upstream_error', `The provider sent an SSE line longer than ${this.maxLineChars} characters.`, { retryable: false });
    }
    return out;
  }

  /** End of stream: a last line without a line break still counts; a pending event is dispatched. */
  end(): UpstreamSseEvent[] {
    const out: UpstreamSseEvent[] = [];
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    if (rest.length > 0) this.line(rest, out);
    this.line('', out);
    return out;
  }

  private dataValue(value: string): void {
    this.data = this.data === null ? value : `${this.data}\n${value}`;
  }

  private line(line: string, out: UpstreamSseEvent[]): void {
    if (line.length === 0) {
      if (this.data !== null) out.push({ event: this.event || 'message', data: this.data });
      this.data = null;
      this.event = '';
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment (keep-alives such as ": OPENROUTER PROCESSING")
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.dataValue(value);
    else if (field === 'event') this.event = value;
    // id and retry mean nothing for a one-shot upstream request; other fields are ignored by spec.
  }
}
