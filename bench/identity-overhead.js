/**
 * What identity and limits add to `POST /compare-stream` time to first byte: the same server
 * build with every limit off (anonymous) against every limit on (anonymous: IP counters; with
 * an API key: key lookup, its user, the user's counters; and with the memory LimitStore).
 * Requests alternate between the four
 * so drift hits all alike. Also sign-ins per second with the shipped scrypt settings, next to
 * the cost of one hash. Env: BENCH_IDENTITY_REQUESTS (per scenario, 2000), BENCH_LOGIN_SECONDS (3).
 */
import { fork } from 'node:child_process';
import { scrypt, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from './lib/clock.js';
import { environment } from './lib/report.js';
import { round, summarize } from './lib/stats.js';

export const name = 'identity-overhead';

const REQUESTS = Number(process.env.BENCH_IDENTITY_REQUESTS) || 2_000;
const WARMUP = 300;
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS) || 3;
const LOGIN_CONCURRENCY = 4;
const GOALS = { p50: 0.3, p99: 1 };

export async function run({ cleanup, resultsDir }) {
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'tributary-bench-id-')));
  cleanup.add(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const [off, on, memory] = await Promise.all([
    startChild(cleanup, { dataDir: dirs[0], limits: 'off' }),
    startChild(cleanup, { dataDir: dirs[1], limits: 'on' }),
    startChild(cleanup, { dataDir: dirs[2], limits: 'on', store: 'memory' }),
  ]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  cleanup.add(() => agent.destroy());

  const scenarios = [
    { name: 'limits off, anonymous', port: off.ready.port, headers: {} },
    { name: 'limits on, anonymous', port: on.ready.port, headers: {} },
    { name: 'limits on, API key', port: on.ready.port, headers: { authorization: `Bearer ${on.ready.key}` } },
    { name: 'limits on (memory counters), anonymous', port: memory.ready.port, headers: {} },
  ];
  for (let i = 0; i < WARMUP; i++) for (const s of scenarios) await ttfb(agent, s);
  const samples = scenarios.map(() => []);
  for (let i = 0; i < REQUESTS; i++) {
    for (let j = 0; j < scenarios.length; j++) {
      const r = await ttfb(agent, scenarios[j]);
      if (r.status !== 200) throw new Error(`${scenarios[j].name}: HTTP ${r.status} ${r.body}`);
      samples[j].push(r.ms);
    }
  }
  const stats = samples.map((s) => summarize(s));
  const base = stats[0];
  const rows = scenarios.map((s, i) => ({
    scenario: s.name,
    requests: stats[i].count,
    ttfbMs: { p50: round(stats[i].p50), p99: round(stats[i].p99) },
    addedMs: i === 0 ? null : { p50: round(stats[i].p50 - base.p50), p99: round(stats[i].p99 - base.p99) },
  }));

  // The same path measured inside the server process, free of the HTTP round trip's noise.
  const inProcess = [];
  for (const [label, { child }] of [
    ['database', on],
    ['memory', memory],
  ]) {
    child.send({ type: 'micro', n: REQUESTS });
    const micro = await new Promise((resolve) => child.on('message', (m) => m.type === 'micro' && resolve(m.samples)));
    for (const [caller, times] of Object.entries(micro)) {
      const s = summarize(times);
      inProcess.push({ caller: `${caller}, ${label} counters`, calls: s.count, p50: round(s.p50), p99: round(s.p99) });
    }
  }

  const login = await loginRate(on.ready.port, agent);
  const { scrypt: settings } = on.ready;
  const hashMs = await scryptCost(settings);
  const result = {
    command: 'npm run bench identity',
    setup: {
      requestsPerScenario: REQUESTS,
      warmup: WARMUP,
      model: 'demo/tiny (5 tokens, no delay)',
      sqlite: true,
      loginSeconds: LOGIN_SECONDS,
      loginConcurrency: LOGIN_CONCURRENCY,
    },
    ttfb: rows,
    inProcess,
    login: { ...login, scrypt: settings, hashMs: round(hashMs, 2), memoryMiB: (128 * settings.cost * settings.blockSize) / 1024 / 1024 },
    goals: GOALS,
    environment: environment(),
  };
  writeResults(resultsDir, result);
  await Promise.all(
    [off, on, memory].map(
      ({ child }) =>
        new Promise((resolve) => {
          child.send('close');
          child.once('exit', resolve);
          setTimeout(resolve, 5_000);
        }),
    ),
  );
}

async function startChild(cleanup, args) {
  const child = fork(fileURLToPath(new URL('./lib/identity-child.js', import.meta.url)), [JSON.stringify(args)], { execArgv: ['--no-warnings'] });
  cleanup.add(() => child.kill());
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`identity child exited ${code}`)));
  });
  return { child, ready };
}

/** One POST /compare-stream: time until the response head arrives; the stream is read to its end. */
function ttfb(agent, { port, headers }) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ input_data: 'Hi', models: ['demo/tiny'] });
    const t0 = now();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/compare-stream',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const ms = now() - t0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ ms, status: res.statusCode, body: text.slice(0, 200) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sign-ins per second for LOGIN_SECONDS with LOGIN_CONCURRENCY in flight. */
async function loginRate(port, agent) {
  const body = JSON.stringify({ email: 'bench@example.test', password: 'bench password 1' });
  const one = () =>
    new Promise((resolve, reject) => {
      const t0 = now();
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/auth/login',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve(now() - t0) : reject(new Error(`login HTTP ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const latencies = [];
  const end = now() + LOGIN_SECONDS * 1000;
  const t0 = now();
  await Promise.all(
    Array.from({ length: LOGIN_CONCURRENCY }, async () => {
      while (now() < end) latencies.push(await one());
    }),
  );
  const s = summarize(latencies);
  return { logins: latencies.length, perSecond: round(latencies.length / ((now() - t0) / 1000), 1), latencyMs: { p50: round(s.p50, 1), p99: round(s.p99, 1) } };
}

/** Milliseconds of one scrypt hash with the server's settings, in this process (median of 10). */
async function scryptCost({ cost, blockSize, parallelization }) {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = now();
    await new Promise((resolve, reject) =>
      scrypt('bench password 1', randomBytes(16), 32, { N: cost, r: blockSize, p: parallelization, maxmem: 256 * cost * blockSize + 1024 * 1024 }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    times.push(now() - t0);
  }
  return summarize(times).p50;
}

function writeResults(dir, result) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const verdict = (v, goal) => `${v} ms (goal ≤ ${goal}: ${v <= goal ? 'met' : 'MISSED'})`;
  const lines = [
    `# ${name}`,
    '',
    `- date: ${result.environment.date ?? new Date().toISOString()}`,
    `- command: \`${result.command}\``,
    `- setup: ${result.setup.requestsPerScenario} sequential \`POST /compare-stream\` per scenario (keep-alive, alternating), ${result.setup.model}, SQLite; time to first byte = the response head`,
    '',
    '| scenario | TTFB p50 / p99 ms | added p50 / p99 ms |',
    '|---|---|---|',
    ...result.ttfb.map((r) => `| ${r.scenario} | ${r.ttfbMs.p50} / ${r.ttfbMs.p99} | ${r.addedMs ? `${r.addedMs.p50} / ${r.addedMs.p99}` : '(baseline)'} |`),
    '',
    ...result.ttfb
      .filter((r) => r.addedMs)
      .map((r) => `- ${r.scenario}: added p50 ${verdict(r.addedMs.p50, GOALS.p50)}, p99 ${verdict(r.addedMs.p99, GOALS.p99)}.`),
    '',
    'The added path alone, timed inside the limits-on servers (authenticate + charge every counter; SQLite or memory counters):',
    '',
    '| caller | calls | p50 / p99 ms |',
    '|---|---|---|',
    ...result.inProcess.map((r) => `| ${r.caller} | ${r.calls} | ${r.p50} / ${r.p99} |`),
    '',
    ...result.inProcess.map((r) => `- ${r.caller}: p50 ${verdict(r.p50, GOALS.p50)}, p99 ${verdict(r.p99, GOALS.p99)}.`),
    '',
    `Sign-in: ${result.login.perSecond} logins/s (${result.login.logins} in ${result.setup.loginSeconds} s, ${result.setup.loginConcurrency} in flight, p50 ${result.login.latencyMs.p50} ms, p99 ${result.login.latencyMs.p99} ms) with scrypt N=${result.login.scrypt.cost}, r=${result.login.scrypt.blockSize}, p=${result.login.scrypt.parallelization}: one hash ${result.login.hashMs} ms and ${result.login.memoryMiB} MiB.`,
    '',
  ];
  writeFileSync(join(dir, `${name}.md`), lines.join('\n'));
  console.log(lines.join('\n'));
}
