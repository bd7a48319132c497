export type FrameScheduler = (callback: () => void) => void;

/** requestAnimationFrame in a visible page; a timer when hidden (rAF stops in background tabs). */
export const animationFrame: FrameScheduler = (callback) => {
  if (typeof document !== 'undefined' && document.visibilityState === 'visible' && typeof requestAnimationFrame === 'function') {
    requestAnimationFrame(() => callback());
  } else {
    setTimeout(callback, 100);
  }
};

/**
 * Collects the keys touched by stream events and hands them over once per frame: however many
 * tokens arrive between two frames, each card renders at most once.
 */
export class FrameBatcher<K> {
  private dirty = new Set<K>();
  private scheduled = false;

  constructor(
    private readonly flush: (keys: ReadonlySet<K>) => void,
    private readonly schedule: FrameScheduler = animationFrame,
  ) {}

  mark(keys: Iterable<K>): void {
    for (const key of keys) this.dirty.add(key);
    if (this.scheduled || this.dirty.size === 0) return;
    this.scheduled = true;
    this.schedule(() => this.run());
  }

  /** Delivers pending keys now (tests, and before the page is hidden). */
  run(): void {
    this.scheduled = false;
    if (this.dirty.size === 0) return;
    const keys = this.dirty;
    this.dirty = new Set();
    this.flush(keys);
  }
}
