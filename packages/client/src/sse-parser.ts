/** One Server-Sent Events message, as the HTML standard's parser produces it. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
  retry?: number;
}

/**
 * Incremental SSE parser: feed it text as it arrives (any split, LF/CR/CRLF line ends);
 * it returns the messages completed by that text.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private sawData = false;
  /** Last id seen on the stream (what EventSource would send as Last-Event-ID). */
  lastEventId: string | undefined;
  retry: number | undefined;

  push(text: string): SseMessage[] {
    this.buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR at the end of the buffer may be the first half of CRLF: wait for more.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      const message = this.line(this.buffer.slice(start, end));
      if (message) out.push(message);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (!this.sawData) {
        this.event = '';
        return undefined;
      }
      const message: SseMessage = { id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      this.sawData = false;
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.sawData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
    return undefined;
  }
}
