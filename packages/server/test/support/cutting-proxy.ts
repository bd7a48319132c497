import net from 'node:net';

/**
 * A TCP proxy in front of a server that cuts chosen connections after some bytes of
 * response, like a flaky network. Records each connection's request head. `cutAt`, when
 * given, picks the cut from the response seen so far (latin1 text): a byte offset, or undefined.
 */
export async function cuttingProxy(
  target: string,
  cutAfterBytes: (connection: number) => number | undefined,
  cutAt?: (connection: number, response: string) => number | undefined,
) {
  const { hostname, port } = new URL(target);
  const requests: string[] = [];
  let connections = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    const n = connections++;
    let limit = cutAfterBytes(n);
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
    let response = '';
    upstream.on('data', (d: Buffer) => {
      const before = received;
      received += d.length;
      if (cutAt && limit === undefined) {
        response += d.toString('latin1');
        limit = cutAt(n, response);
      }
      if (limit !== undefined && received > limit) {
        // Deliver up to the limit (possibly half a frame), then cut both sides.
        client.end(d.subarray(0, Math.max(0, limit - before)), () => client.destroy());
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    // Kept-alive client sockets (fetch pools them) would hold close() until their idle timeout.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}
