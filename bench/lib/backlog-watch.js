/**
 * Samples, every `everyMs`, the bytes the server has written but the kernel has not taken
 * (sum of socket.writableLength over open connections): non-zero means a client or the
 * loopback is behind and tokens wait in the server's userland buffers.
 */
export function watchBacklog(httpServer, everyMs = 5) {
  const sockets = new Set();
  httpServer.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let samples = 0;
  let nonZero = 0;
  let maxBytes = 0;
  const timer = setInterval(() => {
    let bytes = 0;
    for (const socket of sockets) bytes += socket.writableLength;
    samples++;
    if (bytes > 0) nonZero++;
    if (bytes > maxBytes) maxBytes = bytes;
  }, everyMs);
  timer.unref();
  return {
    reset() {
      samples = 0;
      nonZero = 0;
      maxBytes = 0;
    },
    stats: () => ({ samples, nonZeroShare: samples ? nonZero / samples : 0, maxBytes }),
    stop: () => clearInterval(timer),
  };
}
