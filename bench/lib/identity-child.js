/**
 * Forked child for bench/identity-overhead.js: one Tributary app, every limit off or every
 * limit on (set so high none refuses), a tiny demo model; the limits-on one mints an API key.
 * Each app has its own process, so one's batched writes never stall the other's requests.
 * argv[2]: JSON { dataDir, limits: 'on' | 'off', store?: 'database' | 'memory' }
 */
import { buildApp } from '../../packages/server/dist/app.js';
import { loadConfig } from '../../packages/server/dist/config/load.js';
import { NO_LIMITS } from './no-limits.js';

process.on('disconnect', () => process.exit(0));
const { dataDir, limits, store = 'database' } = JSON.parse(process.argv[2]);
const ON = { requestsPerMinute: 1e9, responsesPerDay: 1e9, maxModels: 12, extendedPerDay: 1e9, tokensPerDay: 1e12 };
const models = { 'demo/tiny': { name: 'Tiny', firstTokenMs: 0, tokensPerSecond: 100_000, answerTokens: 5 } };

async function start(dataDir, limits) {
  const config = loadConfig({
    env: {},
    overrides: {
      server: { host: '127.0.0.1', port: 0 },
      dataDir,
      log: { level: 'silent' },
      demo: { models },
      identity: { limitStore: store, limits: { anonymous: limits, user: limits } },
    },
  });
  const app = await buildApp(config);
  return { app, port: Number(new URL(await app.listen()).port) };
}

const { app, port } = await start(dataDir, limits === 'on' ? ON : NO_LIMITS);
const { accounts, keys } = app.ctx.identity;
const user = await accounts.register('bench@example.test', 'bench password 1', '127.0.0.1');
const { key } = await keys.create(user.id, 'bench', ['compare']);
process.send({ type: 'ready', port, key, scrypt: app.ctx.config.identity.scrypt });
/** The added code path alone, in process: credentials → caller → all counters charged. */
async function micro(n) {
  const { authenticator, quotas } = app.ctx.identity;
  const out = {};
  for (const [name, credentials] of [
    ['anonymous', {}],
    ['API key', { bearer: key }],
  ]) {
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const caller = await authenticator.resolve(credentials, '127.0.0.1');
      await quotas.admit(caller, { responses: 1, extended: false });
      times.push(performance.now() - t0);
    }
    out[name] = times;
  }
  return out;
}

process.on('message', async (msg) => {
  if (msg?.type === 'micro') process.send({ type: 'micro', samples: await micro(msg.n) });
  if (msg === 'close') {
    await app.close();
    process.exit(0);
  }
});
