import type { Duplex } from 'node:stream';

/** Bytes a connection may hold back in one tick before they are flushed anyway. */
export const HOLD_FLUSH_BYTES = 64 * 1024;

/** A connection whose writes are held until the tick ends. */
export interface HeldWrites {
  releaseTick(): void;
}

/** What a coalescing writer keeps: the tick of its last write, and whether this tick's further writes are held. */
export interface BurstState extends HeldWrites {
  lastWriteTick: number;
  holding: boolean;
}

/**
 * Knows the current tick of the process, so a connection can tell a burst (a second write in
 * the same tick) from a lone event: the first write goes out at once, the rest of the burst is
 * corked and leaves in one writev when the tick ends. One nextTick per busy tick for all
 * connections, nothing per connection beyond two fields.
 */
class TickCoalescer {
  private tick = 0;
  private scheduled = false;
  private held: HeldWrites[] = [];
  private readonly end = () => {
    this.scheduled = false;
    this.tick++;
    const held = this.held;
    this.held = [];
    for (const h of held) h.releaseTick();
  };

  /** The current tick's number (its end is scheduled on first use). */
  now(): number {
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.end);
    }
    return this.tick;
  }

  /** Releases `h` when this tick ends. */
  hold(h: HeldWrites): void {
    this.held.push(h);
  }
}

export const ticks = new TickCoalescer();

/**
 * Call before each write to `socket`: the first write of a tick goes out at once; a second one
 * corks the socket until the tick ends (`owner.releaseTick` must then `endBurst`), so a burst
 * leaves in one writev; a long burst is flushed every HOLD_FLUSH_BYTES.
 */
export function beforeWrite(owner: BurstState, socket: Duplex): void {
  const tick = ticks.now();
  if (tick !== owner.lastWriteTick) {
    owner.lastWriteTick = tick;
    return;
  }
  if (!owner.holding) {
    owner.holding = true;
    socket.cork();
    ticks.hold(owner);
  } else if (socket.writableLength >= HOLD_FLUSH_BYTES) {
    socket.uncork(); // a long burst leaves in bounded writes
    socket.cork();
  }
}

/** The tick ended: what `beforeWrite` held leaves. */
export function endBurst(owner: BurstState, socket: Duplex): void {
  owner.holding = false;
  socket.uncork();
}
