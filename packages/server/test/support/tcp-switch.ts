import net from 'node:net';

/**
 * A TCP proxy in front of a service (PostgreSQL) that can be cut and restored, so one
 * server loses its database while the real one keeps running for everybody else.
 * Cut: every open connection is destroyed and new ones are closed as soon as they arrive.
 */
export async function tcpSwitch(targetHost: string, targetPort: number) {
  const open = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    cut() {
      up = false;
      for (const socket of open) socket.destroy();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        up = false;
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
