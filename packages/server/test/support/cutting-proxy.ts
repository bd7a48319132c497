import net from 'node:net';

/**
 * A TCP proxy in front of a server that cuts chosen connections after some bytes of
 * response, like a flaky network. Records each connection's request head.
 */
export async function cuttingProxy(target: string, cutAfterBytes: (connection: number) => number | undefined) {
  const { hostname, port } = new URL(target);
  const requests: string[] = [];
  let connections = 0;
  const server = net.createServer((client) => {
    const n = connections++;
    const limit = cutAfterBytes(n);
    const upstream = net.connect(Number(port), hostname);
    let head = '';
    let received = 0;
    client.on('data', (d) => {
      if (head.length < 4096) {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) requests[n] = head.split('\r\n\r\n')[0]!;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      const before = received;
      received += d.length;
      if (limit !== undefined && received > limit) {
        // Deliver up to the limit (possibly half a frame), then cut both sides.
        client.end(d.subarray(0, Math.max(0, limit - before)), () => client.destroy());
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections?.(); }),
  };
}
