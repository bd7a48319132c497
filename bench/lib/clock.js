/** Wall-clock milliseconds with sub-microsecond resolution, comparable across processes. */
export const now = () => performance.timeOrigin + performance.now();
