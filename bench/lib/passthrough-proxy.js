/**
 * Forked child: the least a Node proxy can do, as a reference row for the gateway benchmark.
 * node:http in, one undici keep-alive pool out, upstream bytes copied to the client verbatim:
 * no validation, no parsing, no timeouts, no error mapping. What Tributary adds over this row
 * is the cost of being a gateway; what this row adds over `direct` is the cost of any proxy hop.
 * argv[2]: JSON { upstream } (base URL ending in /v1).
 */
import http from 'node:http';
import { Pool } from 'undici';

process.on('disconnect', () => process.exit(0));
// The bench stops its children with SIGTERM: exit normally so `--cpu-prof` (BENCH_CPU_PROF) writes this process's profile.
process.on('SIGTERM', () => process.exit(0));
const upstream = new URL(JSON.parse(process.argv[2]).upstream);
const pool = new Pool(upstream.origin, { connections: 256, headersTimeout: 0, bodyTimeout: 0 });

const server = http.createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (raw += d));
  req.on('end', async () => {
    const abort = new AbortController();
    res.on('close', () => !res.writableFinished && abort.abort());
    try {
      const up = await pool.request({
        method: 'POST',
        path: `${upstream.pathname}/chat/completions`,
        body: raw,
        signal: abort.signal,
        headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
      });
      res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] ?? 'application/json' });
      res.socket?.setNoDelay(true);
      up.body.on('data', (b) => res.write(b));
      up.body.on('end', () => res.end());
      up.body.on('error', () => res.destroy());
    } catch {
      res.destroy();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
