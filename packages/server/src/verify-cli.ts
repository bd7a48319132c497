import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkLine, parseThresholds, renderMarkdown, renderText, verify, type Profile } from '@tributary/client/verify';
import { ConfigError } from './config/load.js';

// Its own module, so `tributary verify` starts without loading the server (bin/tributary.js routes it here).

export const VERIFY_USAGE = `  tributary verify <base-url> [--token T] [--publish-key K] [--metrics-token M] [--models a,b,c]
                   [--profile smoke|full|load] [--concurrency N] [--duration S] [--thresholds FILE]
                   [--checks id,id] [--json | --markdown] [--allow-destructive]
      Checks a deployment (this server or any that speaks its routes) and reports each check
      measured, pass/fail/skip; exit 1 when a required check fails, 2 on a usage error.
      Token and keys also from TRIBUTARY_TOKEN, TRIBUTARY_PUBLISH_KEY, TRIBUTARY_METRICS_TOKEN.
      See docs/verify.md.`;

/** `tributary verify …` on its own: usage errors exit 2, a failed required check 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await verifyCommand(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (err instanceof ConfigError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      console.error((err as Error).message);
      process.exit(2);
    }
    throw err;
  }
}

/** `verify`: the deployment checklists as one measured report (the checks live in @tributary/client). */
export async function verifyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      token: { type: 'string' },
      'publish-key': { type: 'string' },
      'metrics-token': { type: 'string' },
      models: { type: 'string' },
      profile: { type: 'string', default: 'smoke' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      thresholds: { type: 'string' },
      checks: { type: 'string' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      'allow-destructive': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void console.log(`Usage:\n${VERIFY_USAGE}`);
  const [baseUrl, ...extra] = positionals;
  if (!baseUrl || extra.length || !/^https?:\/\//.test(baseUrl))
    throw new ConfigError('tributary verify: give one base URL, e.g. tributary verify http://localhost:8080');
  if (values.json && values.markdown) throw new ConfigError('tributary verify: --json or --markdown, not both');
  const profile = values.profile as Profile;
  if (!['smoke', 'full', 'load'].includes(profile)) throw new ConfigError('--profile must be smoke, full or load');
  const positive = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--${name} must be a positive number`);
    return n;
  };
  let thresholds: ReturnType<typeof parseThresholds> | undefined;
  if (values.thresholds) {
    try {
      thresholds = parseThresholds(JSON.parse(readFileSync(values.thresholds, 'utf8')));
    } catch (err) {
      throw new ConfigError(`--thresholds ${values.thresholds}: ${(err as Error).message}`);
    }
  }
  const list = (text: string | undefined) =>
    text
      ?.split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const text = !values.json && !values.markdown;
  // The live progress line goes to a terminal's stderr only; reports stay clean on stdout.
  const live = process.stderr.isTTY === true;
  const progress = (line: string) => {
    if (live) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
  };
  const report = await verify({
    baseUrl,
    token: values.token ?? process.env.TRIBUTARY_TOKEN,
    publishKey: values['publish-key'] ?? process.env.TRIBUTARY_PUBLISH_KEY,
    metricsToken: values['metrics-token'] ?? process.env.TRIBUTARY_METRICS_TOKEN,
    models: list(values.models),
    profile,
    concurrency: positive('concurrency', values.concurrency),
    durationS: positive('duration', values.duration),
    thresholds,
    only: list(values.checks),
    allowDestructive: values['allow-destructive'] === true,
    onProgress: progress,
    onCheck: (c) => {
      progress('');
      if (text) console.log(checkLine(c));
    },
  }).catch((err: Error) => {
    if (/^unknown check/.test(err.message)) throw new ConfigError(`--checks: ${err.message}`);
    throw err;
  });
  if (live) process.stderr.write('\r\x1b[2K');
  const output = values.json ? `${JSON.stringify(report, null, 2)}\n` : values.markdown ? renderMarkdown(report) : `\n${renderText(report)}\n`;
  // Exit once written: idle keep-alive sockets to the checked server would hold the process for seconds.
  await new Promise<void>((resolve) => process.stdout.write(output, () => resolve()));
  process.exit(report.passed ? 0 : 1);
}
