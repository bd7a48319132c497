import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { nextDrain } from './drain.js';
import { beforeWrite, endBurst, type BurstState } from './tick-coalescer.js';

/**
 * The body of a long-lived HTTP response (SSE), each piece written to the socket as one
 * HTTP/1.1 chunk in one write. Node's `res.write` costs a cork, a next-tick uncork and a
 * four-part writev per piece, which a stream pays once per token or event. The first piece
 * goes through `res.write` (with the headers), and so does every piece while Node does not
 * frame chunks (HTTP/1.0) or the socket still serves an earlier response (see `ownSocket`).
 * With `coalesce`, a burst's pieces (more than one in a tick) leave in one write when the tick
 * ends, as on WebSocket connections (tick-coalescer.ts).
 */
export class BodyWriter implements BurstState {
  private socket: Socket | null = null;
  /** Open `cork()`s of the response itself (before direct writes began). */
  private resCorks = 0;
  lastWriteTick = -1;
  holding = false;

  constructor(
    readonly res: ServerResponse,
    status: number,
    headers: Readonly<Record<string, string>>,
    private readonly coalesce = false,
  ) {
    res.writeHead(status, headers);
    res.socket?.setNoDelay(true);
  }

  /** Ended or cut: nothing more may be written (the socket may already serve the next request). */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** False when the client is behind: wait for `drained()`. */
  write(text: string): boolean {
    if (text.length === 0 || this.closed) return true; // a zero-size chunk would end the body
    const { socket } = this;
    if (socket) {
      if (this.coalesce) beforeWrite(this, socket);
      return socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
    }
    const ok = this.res.write(text);
    // A corked response buffers its chunks itself: direct writes would overtake them.
    if (this.resCorks === 0) this.socket = ownSocket(this.res);
    return ok;
  }

  releaseTick(): void {
    if (this.socket) endBurst(this, this.socket);
  }

  /** Bytes written and not yet taken by the network (the response's count includes its socket's). */
  get backlog(): number {
    return this.res.writableLength;
  }

  /** Holds writes until the returned function runs (a replay leaves in one write). */
  cork(): () => void {
    const { socket } = this;
    if (socket) {
      socket.cork();
      return () => socket.uncork();
    }
    this.res.cork();
    this.resCorks++;
    return () => {
      this.resCorks--;
      this.res.uncork();
    };
  }

  /** Resolves when the socket took everything written, or the response closed. */
  drained(): Promise<void> {
    if (this.closed || this.backlog === 0) return Promise.resolve();
    return this.socket ? nextDrain(this.socket, this.res) : nextDrain(this.res);
  }

  /** Ends the body; a last piece leaves in the same write as the end marker. */
  end(text?: string): void {
    if (this.closed) return;
    if (text) this.res.end(text);
    else this.res.end();
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
 * nothing of ours waits in Node's buffer. Until then, pieces go through `res.write`.
 */
function ownSocket(res: ServerResponse): Socket | null {
  const node = res as unknown as NodeResponse;
  const ours = node.chunkedEncoding === true && node.outputSize === 0;
  return ours ? res.socket : null;
}
