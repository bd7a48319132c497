import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TributaryError } from './errors.js';
import { adminCreate, usageReport } from './identity/commands.js';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config, ConfigInput } from './config/schema.js';
import { ensureSecrets, type Secrets } from './config/secrets.js';
import { issueToken } from './realtime/auth.js';
import { DataDirError } from './store/data-dir-lock.js';
import { MigrationError } from './store/migrations.js';
import { DatabaseUnreachableError } from './store/open-store.js';
import { VERIFY_USAGE, verifyCommand } from './verify-cli.js';
import { RedisUnreachableError } from './store/redis-errors.js';

class StartError extends Error {
  override name = 'StartError';
}

const USAGE = `Usage:
  tributary serve [--port N] [--host H] [--data-dir DIR] [--config FILE]
      Starts the server. Flags override env (PORT, HOST, TRIBUTARY_DATA_DIR,
      TRIBUTARY_CONFIG), which override the config file. See docs/configuration.md.
  tributary token --sub SUBJECT [--org ORG] [--channels a,b] [--ttl 1h] [--data-dir DIR] [--config FILE]
      Prints a connection token (JWT HS256) signed with the server's token secret.
  tributary key show [--data-dir DIR] [--config FILE]
      Prints the publish key (POST /v1/publish: Authorization: Bearer <key>).
  tributary admin create --email E [--data-dir DIR] [--config FILE]
      Makes (or promotes) an admin account; the password is read from stdin.
  tributary usage [--days N] [--json] [--data-dir DIR] [--config FILE]
      Prints usage by day, user and model.
${VERIFY_USAGE}`;

/** Options every command takes: where the config and the data directory are. */
const CONFIG_OPTIONS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type Command = (argv: string[]) => Promise<void>;

/** One small function per command; `tributary <name> …` runs it. */
const COMMANDS: Record<string, Command> = {
  serve,
  token,
  'key show': keyShow,
  'admin create': adminCreateCommand,
  usage: usageCommand,
  verify: verifyCommand,
};

async function serve(argv: string[]): Promise<void> {
  const values = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (!values) return;
  const overrides: ConfigInput = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    overrides.server = { port: Number.isInteger(port) ? port : (values.port as unknown as number) };
  }
  if (values.host !== undefined) overrides.server = { ...overrides.server, host: values.host };
  const secrets = secretsForServe(configFrom(values, overrides));
  const { config } = secrets;
  const app = await buildApp(config);
  let url: string;
  try {
    url = await app.listen();
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new StartError(`Cannot listen on ${config.server.host}:${config.server.port}: ${code === 'EADDRINUSE' ? 'the port is already in use' : code}.`);
    }
    throw err;
  }

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
  // Said only once a stop signal is handled: whoever waits for this line may signal at once.
  // A log record like every other line (pino, info), written even when the level is above info (unless
  // silent): supervisors and scripts wait for it. Its message keeps the words they match.
  const data = config.database.url ? 'PostgreSQL' : `${config.dataDir}/tributary.db`;
  const log = app.fastify.log;
  (log.level === 'silent' ? log : log.child({}, { level: 'info' })).info(
    { url, data, generatedSecrets: generatedSecrets(secrets) },
    `Tributary listening on ${url} (data: ${data})${secretsNote(secrets)}`,
  );
  // The generated key itself goes to the terminal only: a secret has no place in shipped logs.
  if (secrets.source.publishKey === 'generated') {
    console.log(`Publish key (shown once; \`tributary key show\` prints it again): ${config.realtime.publishKey}`);
  }
}

/** The secrets `serve` starts with; a data directory they cannot be kept in stops the start in one line. */
function secretsForServe(config: Config): Secrets {
  try {
    return ensureSecrets(config);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) throw new StartError(`Cannot use data directory ${config.dataDir}: ${(err as Error).message}`);
    throw err;
  }
}

/** What the start line says of generated secrets (their values stay in the data directory). */
function generatedSecrets({ source }: Secrets): ('tokenSecret' | 'publishKey')[] {
  return (['tokenSecret', 'publishKey'] as const).filter((n) => source[n] === 'generated');
}

function secretsNote(secrets: Secrets): string {
  const { file } = secrets;
  const generated = generatedSecrets(secrets);
  if (generated.length === 0) return '';
  const names = generated.map((n) => (n === 'tokenSecret' ? 'a connection-token secret' : 'a publish key')).join(' and ');
  return `; generated ${names} into ${file} (\`tributary token\` issues tokens)`;
}

async function token(argv: string[]): Promise<void> {
  const values = parse(argv, { sub: { type: 'string' }, org: { type: 'string' }, channels: { type: 'string' }, ttl: { type: 'string', default: '1h' } });
  if (!values) return;
  if (!values.sub) throw new ConfigError('tributary token: --sub SUBJECT is required');
  const ttlSeconds = parseDuration(values.ttl);
  // Before the first start there is no secret yet: make it now, where the server will read it.
  const { config, source, file } = ensureSecrets(configFrom(values), { generate: ['tokenSecret'] });
  if (source.tokenSecret === 'generated') console.error(`Generated a connection-token secret into ${file}.`);
  const channels = values.channels
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  console.log(await issueToken(config.realtime.tokenSecret!, { sub: values.sub, org: values.org, channels }, ttlSeconds));
}

async function keyShow(argv: string[]): Promise<void> {
  const values = parse(argv, {});
  if (!values) return;
  const { config } = ensureSecrets(configFrom(values), { generate: [] });
  if (!config.realtime.publishKey) {
    throw new ConfigError('No publish key yet: start the server once (it generates one) or set TRIBUTARY_PUBLISH_KEY.');
  }
  console.log(config.realtime.publishKey);
}

type Values = Record<string, string | undefined>;

/** The command's flags (all strings), or undefined after printing the usage for --help. */
function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): Values | undefined {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_OPTIONS, ...options }, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  return values as Values;
}

function configFrom(values: Values, overrides: ConfigInput = {}): Config {
  if (values['data-dir'] !== undefined) overrides.dataDir = values['data-dir'];
  return loadConfig({ file: values.config, overrides });
}

/** `90s`, `15m`, `1h`, `7d`, or plain seconds. */
export function parseDuration(text: string | undefined): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(text?.trim() ?? '');
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3_600, d: 86_400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : 0;
  if (seconds <= 0) throw new ConfigError(`--ttl ${JSON.stringify(text)}: give a positive duration such as 90s, 15m, 1h or 7d`);
  return seconds;
}

export async function main(argv: string[]): Promise<void> {
  const [first, second] = argv;
  const name = first !== undefined && second !== undefined && COMMANDS[`${first} ${second}`] ? `${first} ${second}` : first;
  const command = name === undefined ? undefined : COMMANDS[name];
  try {
    if (command) await command(argv.slice(name!.split(' ').length));
    else if (name === undefined || name === '--help' || name === '-h' || name === 'help') console.log(USAGE);
    else {
      console.error(`Unknown command: ${argv.slice(0, 2).join(' ')}\n\n${USAGE}`);
      process.exitCode = 2;
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (err instanceof ConfigError || err instanceof TributaryError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      console.error((err as Error).message);
      process.exit(2);
    }
    // Start-up failures an operator fixes (port, data directory, database, Redis): one line, no stack.
    if (
      err instanceof StartError ||
      err instanceof DataDirError ||
      err instanceof DatabaseUnreachableError ||
      err instanceof RedisUnreachableError ||
      err instanceof MigrationError
    ) {
      console.error(`tributary: ${(err as Error).message}`);
      process.exit(1);
    }
    throw err;
  }
}

/** `admin create` and `usage`: run against the configured database, no server. */
async function adminCreateCommand(argv: string[]): Promise<void> {
  const values = parse(argv, { email: { type: 'string' } });
  if (!values) return;
  if (!values.email) throw new ConfigError('tributary admin create: --email E is required (the password is read from stdin)');
  const password = (await readStdin()).replace(/\r?\n$/, '');
  console.log(await adminCreate(configFrom(values), values.email, password));
}

async function usageCommand(argv: string[]): Promise<void> {
  const values = parse(argv, { days: { type: 'string' }, json: { type: 'boolean' } });
  if (!values) return;
  const days = values.days === undefined ? 30 : Number(values.days);
  if (!Number.isInteger(days) || days < 1) throw new ConfigError('--days must be a positive integer');
  console.log(await usageReport(configFrom(values), days, (values.json as unknown) === true));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
