import { constants, deflateRawSync } from 'node:zlib';

/**
 * A server→client text message framed once for every receiver: plain, and deflated per
 * negotiated window size (permessage-deflate without server context takeover makes the
 * compressed bytes the same for every connection).
 */
export class PreparedMessage {
  private plain: Buffer | undefined;
  private readonly deflated = new Map<number, Buffer>();

  constructor(
    readonly payload: Buffer,
    private readonly onDeflate: () => void = () => undefined,
  ) {}

  static of(text: string, onDeflate?: () => void): PreparedMessage {
    return new PreparedMessage(Buffer.from(text), onDeflate);
  }

  /**
   * The whole frame for a connection, header and payload in one buffer so each receiver costs
   * one socket write: deflated when it negotiated deflate and the payload reaches the threshold.
   */
  frame(windowBits: number | null, threshold: number): { bytes: Buffer; compressed: boolean } {
    if (windowBits === null || this.payload.length < threshold) {
      this.plain ??= Buffer.concat([frameHeader(this.payload.length, false), this.payload]);
      return { bytes: this.plain, compressed: false };
    }
    let bytes = this.deflated.get(windowBits);
    if (!bytes) {
      const out = deflateRawSync(this.payload, { windowBits, finishFlush: constants.Z_SYNC_FLUSH });
      const body = out.subarray(0, out.length - 4); // RFC 7692 §7.2.1: drop the 00 00 ff ff tail
      bytes = Buffer.concat([frameHeader(body.length, true), body]);
      this.deflated.set(windowBits, bytes);
      this.onDeflate();
    }
    return { bytes, compressed: true };
  }
}

/** RFC 6455 header of an unmasked, final text frame (RSV1 marks a deflated one). */
export function frameHeader(length: number, deflated: boolean): Buffer {
  const first = 0x80 | (deflated ? 0x40 : 0) | 0x1;
  if (length < 126) return Buffer.from([first, length]);
  if (length < 65_536) {
    const h = Buffer.alloc(4);
    h[0] = first;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = first;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** The server's window size from a negotiated Sec-WebSocket-Extensions value; null without deflate. */
export function deflateWindowBits(extensions: string | undefined): number | null {
  if (!extensions || !/permessage-deflate/i.test(extensions)) return null;
  const m = /server_max_window_bits=(\d+)/i.exec(extensions);
  const bits = m ? Number(m[1]) : 15;
  return bits >= 9 ? bits : null; // zlib's raw deflate cannot keep to a 256-byte window: send those plain
}
