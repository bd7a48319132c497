import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { DEFAULT_JSON_LIMITS, parseJson } from '../input/json.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

/** Environment variables and the config path each one sets. The one place env is read. */
export const ENV_KEYS: Record<string, { path: string; type: 'string' | 'number' | 'boolean' | 'list' }> = {
  HOST: { path: 'server.host', type: 'string' },
  PORT: { path: 'server.port', type: 'number' },
  TRIBUTARY_DATA_DIR: { path: 'dataDir', type: 'string' },
  DATABASE_URL: { path: 'database.url', type: 'string' },
  REDIS_URL: { path: 'redis.url', type: 'string' },
  TRIBUTARY_REDIS_PREFIX: { path: 'redis.keyPrefix', type: 'string' },
  TRIBUTARY_DB_STARTUP_RETRY_MS: { path: 'durability.startupRetryMs', type: 'number' },
  TRIBUTARY_MAX_MODELS: { path: 'compare.maxModels', type: 'number' },
  TRIBUTARY_DEMO_SPEED: { path: 'demo.speed', type: 'number' },
  ENABLE_SSE_STREAMING: { path: 'flags.sse_streaming', type: 'boolean' },
  TRIBUTARY_WEB_DIR: { path: 'web.dir', type: 'string' },
  LOG_LEVEL: { path: 'log.level', type: 'string' },
  TRIBUTARY_CORS_ORIGINS: { path: 'server.cors.origins', type: 'list' },
  TRIBUTARY_CORS_CREDENTIALS: { path: 'server.cors.credentials', type: 'boolean' },
  TRIBUTARY_PUBLISH_KEY: { path: 'realtime.publishKey', type: 'string' },
  TRIBUTARY_TOKEN_SECRET: { path: 'realtime.tokenSecret', type: 'string' },
  TRIBUTARY_GENERATE_SECRETS: { path: 'realtime.generateSecrets', type: 'boolean' },
  TRIBUTARY_ANONYMOUS_PUBLIC: { path: 'realtime.anonymousPublic', type: 'boolean' },
  TRIBUTARY_WS_PING_MS: { path: 'realtime.pingIntervalMs', type: 'number' },
  TRIBUTARY_SEED_PING_MS: { path: 'realtime.seedPingIntervalMs', type: 'number' },
  ENABLE_WEBSOCKET: { path: 'flags.websocket', type: 'boolean' },
  REALTIME_STREAMING_V2: { path: 'flags.realtime_ws.enabled', type: 'boolean' },
  REALTIME_ROLLOUT_PERCENT: { path: 'flags.realtime_ws.rollout', type: 'number' },
  TRIBUTARY_METRICS_ENABLED: { path: 'ops.metricsEnabled', type: 'boolean' },
  TRIBUTARY_METRICS_TOKEN: { path: 'ops.metricsToken', type: 'string' },
  TRIBUTARY_ADMIN_TOKEN: { path: 'ops.adminToken', type: 'string' },
  TRIBUTARY_MEMORY_LIMIT_BYTES: { path: 'ops.alerts.memoryLimitBytes', type: 'number' },
  TRIBUTARY_ALERT_WEBHOOK: { path: 'ops.alerts.webhookUrl', type: 'string' },
  TRIBUTARY_JOBS_CONCURRENCY: { path: 'jobs.concurrency', type: 'number' },
  TRIBUTARY_JOBS_UPLOAD_LIMIT_BYTES: { path: 'jobs.uploadLimitBytes', type: 'number' },
  TRIBUTARY_JOBS_LEASE_MS: { path: 'jobs.leaseMs', type: 'number' },
  TRIBUTARY_MAX_JSON_DEPTH: { path: 'input.maxJsonDepth', type: 'number' },
  OPENROUTER_API_KEY: { path: 'providers.openrouter.apiKey', type: 'string' },
  OPENAI_API_KEY: { path: 'providers.openai.apiKey', type: 'string' },
  OPENAI_BASE_URL: { path: 'providers.openai.baseUrl', type: 'string' },
  ANTHROPIC_API_KEY: { path: 'providers.anthropic.apiKey', type: 'string' },
  ANTHROPIC_BASE_URL: { path: 'providers.anthropic.baseUrl', type: 'string' },
  TRIBUTARY_AUTH_SECRET: { path: 'identity.authSecret', type: 'string' },
  TRIBUTARY_ANONYMOUS: { path: 'identity.anonymous', type: 'boolean' },
  TRIBUTARY_TRUSTED_PROXIES: { path: 'identity.trustedProxies', type: 'list' },
  TRIBUTARY_ADMIN_EMAIL: { path: 'identity.adminEmail', type: 'string' },
  TRIBUTARY_ADMIN_PASSWORD: { path: 'identity.adminPassword', type: 'string' },
  TRIBUTARY_ANON_RESPONSES_PER_DAY: { path: 'identity.limits.anonymous.responsesPerDay', type: 'number' },
  TRIBUTARY_ANON_MAX_MODELS: { path: 'identity.limits.anonymous.maxModels', type: 'number' },
  TRIBUTARY_AUDIT_RETENTION_DAYS: { path: 'identity.audit.retentionDays', type: 'number' },
  TRIBUTARY_LIMIT_STORE: { path: 'identity.limitStore', type: 'string' },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Builds the config: defaults < file (TRIBUTARY_CONFIG or `file`) < env < overrides.
 * Throws ConfigError naming every bad key and where its value came from.
 */
export function loadConfig(opts: { env?: NodeJS.ProcessEnv; file?: string; overrides?: ConfigInput } = {}): Config {
  const env = opts.env ?? process.env;
  const sources = new Map<string, string>();
  let merged: Record<string, unknown> = {};

  const file = opts.file ?? env.TRIBUTARY_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      // Bounded like any outside JSON: the merge below recurses over the file's nesting.
      parsed = parseJson(readFileSync(file, 'utf8'), DEFAULT_JSON_LIMITS);
    } catch (err) {
      throw new ConfigError(`Cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (!isPlainObject(parsed)) throw new ConfigError(`Config file ${file} must hold a JSON object`);
    merged = deepMerge(merged, parsed);
    for (const path of leafPaths(parsed)) sources.set(path, `file ${file}`);
  }

  for (const [name, { path, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    merged = deepMerge(merged, nest(path, coerce(raw, type)));
    sources.set(path, `env ${name}`);
  }
  if (opts.overrides) merged = deepMerge(merged, opts.overrides as Record<string, unknown>);

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, sources));
    throw new ConfigError(`Invalid configuration:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue, sources: Map<string, string>): string {
  const path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}${from(keys[0] ?? '', sources)}`;
  }
  return `${path || '(root)'}: ${issue.message}${from(path, sources)}`;
}

function from(path: string, sources: Map<string, string>): string {
  const source = sources.get(path);
  return source ? ` (from ${source})` : '';
}

function coerce(raw: string, type: 'string' | 'number' | 'boolean' | 'list'): unknown {
  if (type === 'list')
    return raw
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '');
  if (type === 'number') return /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
  if (type === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    return raw;
  }
  return raw;
}

function nest(path: string, value: unknown): Record<string, unknown> {
  return path.split('.').reduceRight<unknown>((acc, key) => ({ [key]: acc }), value) as Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function leafPaths(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (isPlainObject(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}
