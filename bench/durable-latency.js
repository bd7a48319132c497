/**
 * What "acknowledged means durable" costs: the time from a model's last token to its final
 * event (`done`, which now waits for the result's commit) and from the last model's `done` to
 * `complete` (which waits for the comparison, messages and usage row), as a client sees them.
 * Runs the real CLI (`tributary serve`) on SQLite with synchronous=NORMAL and FULL.
 * `BENCH_BIN=/path/to/bin/tributary.js` measures another build (e.g. the commit before).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_LIMITS } from './lib/no-limits.js';

export const name = 'durable-latency';

const BIN = process.env.BENCH_BIN ?? fileURLToPath(new URL('../packages/server/bin/tributary.js', import.meta.url));
const COMPARISONS = Number(process.env.BENCH_COMPARISONS) || 200;
const CONCURRENT = 10;
const MODELS = 4;
const models = Object.fromEntries(
  Array.from({ length: MODELS }, (_, i) => [`demo/paced-${i + 1}`, { name: `Paced ${i + 1}`, firstTokenMs: i * 7, tokensPerSecond: 50, answerTokens: 40 }]),
);

export async function run({ cleanup, resultsDir }) {
  const rows = [];
  for (const synchronous of ['normal', 'full']) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-durable-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'config.json');
    const durability = process.env.BENCH_BIN ? undefined : { sqliteSynchronous: synchronous };
    // Limits off (this bench makes hundreds of comparisons; identity-overhead measures the limits).
    const identity = process.env.BENCH_BIN ? undefined : { limits: { anonymous: NO_LIMITS } };
    writeFileSync(
      config,
      JSON.stringify({
        dataDir: join(dir, 'data'),
        demo: { speed: 1, models },
        web: { enabled: false },
        ...(durability ? { durability } : {}),
        ...(identity ? { identity } : {}),
      }),
    );
    const server = await startCli(config);
    cleanup.add(() => server.kill());
    try {
      const m = await measure(server.url);
      rows.push({ synchronous: durability ? synchronous : 'baseline (no wait)', ...m });
    } finally {
      server.kill();
    }
    if (!durability) break; // the baseline has no setting
  }
  const fmt = (s) => `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)} / ${s.max.toFixed(2)}`;
  const table = [
    '| SQLite synchronous | comparisons | last token → done p50/p99/max ms | last done → complete p50/p99/max ms | last token → complete p99 ms |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.synchronous} | ${r.comparisons} | ${fmt(r.tokenToDone)} | ${fmt(r.doneToComplete)} | ${r.tokenToComplete.p99.toFixed(2)} |`),
  ].join('\n');
  console.log(table);
  const suffix = process.env.BENCH_BIN ? '-baseline' : '';
  mkdirSync(resultsDir, { recursive: true });
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model,
    models: MODELS,
    concurrent: CONCURRENT,
    bin: BIN,
    rows,
  };
  writeFileSync(join(resultsDir, `${name}${suffix}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(resultsDir, `${name}${suffix}.md`),
    `# ${name}${suffix}\n\n- ${result.date}, Node ${result.node}, ${result.cpu}\n- ${MODELS} paced demo models (50 tokens/s, 40 tokens), ${CONCURRENT} comparisons at a time, stamps taken by the client\n\n${table}\n`,
  );
}

function startCli(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--config', config], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve({ url: m[1], kill: () => child.kill('SIGKILL') });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

async function measure(url) {
  const tokenToDone = [];
  const doneToComplete = [];
  const tokenToComplete = [];
  let next = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENT });
  const worker = async () => {
    while (next < COMPARISONS) {
      next++;
      const t = await oneComparison(url, agent);
      tokenToDone.push(...t.tokenToDone);
      doneToComplete.push(t.doneToComplete);
      tokenToComplete.push(t.tokenToComplete);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, worker));
  agent.destroy();
  return { comparisons: COMPARISONS, tokenToDone: stats(tokenToDone), doneToComplete: stats(doneToComplete), tokenToComplete: stats(tokenToComplete) };
}

function oneComparison(url, agent) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ input_data: 'Measure the commit.', models: Object.keys(models) });
    const req = http.request(
      `${url}/compare-stream`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', accept: 'text/event-stream' } },
      (res) => {
        const lastChunk = new Map();
        const tokenToDone = [];
        let lastDone = 0;
        let lastToken = 0;
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (text) => {
          const at = performance.now();
          buf += text;
          let end;
          while ((end = buf.indexOf('\n\n')) !== -1) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const line = frame.split('\n').find((l) => l.startsWith('data: '));
            if (!line) continue;
            const d = JSON.parse(line.slice(6));
            if (d.type === 'chunk') {
              lastChunk.set(d.model, at);
              lastToken = at;
            } else if (d.type === 'done') {
              tokenToDone.push(at - lastChunk.get(d.model));
              lastDone = at;
            } else if (d.type === 'complete') {
              resolve({ tokenToDone, doneToComplete: at - lastDone, tokenToComplete: at - lastToken });
            }
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { count: sorted.length, p50: q(0.5), p99: q(0.99), max: sorted.at(-1) };
}
