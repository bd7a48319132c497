/** Largest payload of a batched frame (a single larger message travels alone). */
export const BATCH_FRAME_BYTES = 64 * 1024;

/**
 * Packs protocol messages into newline-separated text frames of at most `maxBytes`: a replay
 * of thousands of events leaves in a few dozen frames, not one frame (and one client-side
 * message event) per event. JSON never holds a raw newline, so `\n` is a safe separator.
 */
export class LineBatch {
  private text = '';
  private bytes = 0;
  private lines = 0;

  constructor(
    private readonly sendFrame: (text: string) => void,
    private readonly maxBytes = BATCH_FRAME_BYTES,
  ) {}

  add(line: string): void {
    const size = Buffer.byteLength(line);
    if (this.lines > 0 && this.bytes + 1 + size > this.maxBytes) this.flush();
    if (this.lines === 0) {
      this.text = line;
      this.bytes = size;
    } else {
      this.text += `\n${line}`;
      this.bytes += 1 + size;
    }
    this.lines++;
  }

  /** Bytes held and not yet framed. */
  get pendingBytes(): number {
    return this.bytes;
  }

  flush(): void {
    if (this.lines === 0) return;
    const text = this.text;
    this.text = '';
    this.bytes = 0;
    this.lines = 0;
    this.sendFrame(text);
  }
}
