import { parseArgs } from 'node:util';
import { TributaryError } from './errors.js';
import { adminCreate, usageReport } from './identity/commands.js';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { ConfigInput } from './config/schema.js';

const USAGE = `Usage: tributary serve [--port N] [--host H] [--data-dir DIR] [--config FILE]
       tributary admin create --email E [--data-dir DIR] [--config FILE]   (password on stdin)
       tributary usage [--days N] [--json] [--data-dir DIR] [--config FILE]

serve starts the Tributary server. Flags override env (PORT, HOST, TRIBUTARY_DATA_DIR,
TRIBUTARY_CONFIG), which override the config file. See docs/configuration.md.
admin create makes (or promotes) an admin account; usage prints usage by day, user and model.`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const overrides: ConfigInput = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    overrides.server = { port: Number.isInteger(port) ? port : (values.port as unknown as number) };
  }
  if (values.host !== undefined) overrides.server = { ...overrides.server, host: values.host };
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  const config = loadConfig({ file: values.config, overrides });
  const app = await buildApp(config);
  const url = await app.listen();
  console.log(`Tributary listening on ${url} (data: ${config.database.url ? 'PostgreSQL' : `${config.dataDir}/tributary.db`})`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.fastify.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') await serve(rest);
    else if (command === 'admin' || command === 'usage') await identityCommand(command, rest);
    else if (command === undefined || command === '--help' || command === '-h' || command === 'help') console.log(USAGE);
    else {
      console.error(`Unknown command: ${command}\n\n${USAGE}`);
      process.exitCode = 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TributaryError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error((err as Error).message);
      process.exit(2);
    }
    throw err;
  }
}

/** `admin create` and `usage`: run against the configured database, no server. */
async function identityCommand(command: 'admin' | 'usage', argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { email: { type: 'string' }, days: { type: 'string' }, json: { type: 'boolean' }, 'data-dir': { type: 'string' }, config: { type: 'string' } },
    strict: true, allowPositionals: true,
  });
  const config = loadConfig({ file: values.config, overrides: values['data-dir'] ? { dataDir: values['data-dir'] } : {} });
  if (command === 'admin') {
    if (positionals[0] !== 'create' || !values.email) {
      console.error(`tributary admin create --email E (the password is read from stdin)\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    const password = (await readStdin()).replace(/\r?\n$/, '');
    console.log(await adminCreate(config, values.email, password));
    return;
  }
  const days = values.days === undefined ? 30 : Number(values.days);
  if (!Number.isInteger(days) || days < 1) throw new ConfigError('--days must be a positive integer');
  console.log(await usageReport(config, days, values.json === true));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
