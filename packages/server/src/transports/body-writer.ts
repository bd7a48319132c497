import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { nextDrain } from './drain.js';

/**
 * The body of a long-lived HTTP response (SSE), each piece written to the socket as one
 * HTTP/1.1 chunk in one write. Node's `res.write` costs a cork, a next-tick uncork and a
 * four-part writev per piece, which a stream pays once per token or event. The first piece
 * goes through `res.write` (with the headers), and so does every piece while Node does not
 * frame chunks (HTTP/1.0) or the socket still serves an earlier response (see `ownSocket`).
 */
export class BodyWriter {
  private socket: Socket | null = null;

  constructor(readonly res: ServerResponse, status: number, headers: Readonly<Record<string, string>>) {
    res.writeHead(status, headers);
    res.socket?.setNoDelay(true);
  }

  get closed(): boolean {
    return this.res.destroyed;
  }

  /** False when the client is behind: wait for `drained()`. */
  write(text: string): boolean {
    const { socket } = this;
    if (socket) return socket.destroyed || socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
    const ok = this.res.write(text);
    this.socket = ownSocket(this.res);
    return ok;
  }

  /** Bytes written and not yet taken by the network (the response's count includes its socket's). */
  get backlog(): number {
    return this.res.writableLength;
  }

  /** Holds writes until the returned function runs (a replay leaves in one write). */
  cork(): () => void {
    // A corked response buffers its chunks itself: only the socket may be corked under direct writes.
    const target = this.socket ?? this.res;
    target.cork();
    return () => target.uncork();
  }

  /** Resolves when the socket took everything written, or the response closed. */
  drained(): Promise<void> {
    if (this.closed || this.backlog === 0) return Promise.resolve();
    return this.socket ? nextDrain(this.socket, this.res) : nextDrain(this.res);
  }

  end(text?: string): void {
    if (this.closed) return;
    if (text) this.write(text);
    this.res.end();
  }
}

/** Node internals, stable since its first releases, that say whether the socket is ours to write. */
interface NodeResponse {
  chunkedEncoding?: boolean;
  outputSize?: number;
}

/**
 * The response's socket once writing to it directly keeps the byte order: Node chose chunked
 * framing, the response has its socket (a pipelined one waits for the earlier response) and
 * nothing of ours waits in Node's buffers (none queued, response not corked). Until then,
 * pieces go through `res.write`.
 */
function ownSocket(res: ServerResponse): Socket | null {
  const node = res as unknown as NodeResponse;
  const ours = node.chunkedEncoding === true && node.outputSize === 0 && res.writableCorked === 0;
  return ours ? res.socket : null;
}
