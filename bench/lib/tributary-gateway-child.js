/** Forked child: Tributary with one OpenAI-compatible provider pointing at the mock upstream. argv[2]: JSON { upstream, dataDir }. */
import { buildApp } from '../../packages/server/dist/app.js';
import { loadConfig } from '../../packages/server/dist/config/load.js';
import { NO_LIMITS } from './no-limits.js';

process.on('disconnect', () => process.exit(0));
const { upstream, dataDir } = JSON.parse(process.argv[2]);
const config = loadConfig({
  env: {},
  overrides: {
    server: { host: '127.0.0.1', port: 0 },
    dataDir,
    log: { level: 'silent' },
    identity: { limits: { anonymous: NO_LIMITS } },
    providers: { mock: { dialect: 'openai', baseUrl: upstream, apiKey: 'sk-bench', listModels: false, models: [{ id: 'bench' }] } },
  },
});
const app = await buildApp(config);
const url = await app.listen();
process.send({ type: 'ready', port: Number(new URL(url).port) });
process.on('message', async (msg) => {
  if (msg === 'close') {
    await app.close();
    process.exit(0);
  }
});
