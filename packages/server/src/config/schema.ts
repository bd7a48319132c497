import { z } from 'zod';

const tier = z.strictObject({
  maxInputChars: z.number().int().positive(),
  maxOutputTokens: z.number().int().positive(),
});

const history = z.strictObject({
  /** Events kept per topic. */
  size: z.number().int().positive(),
  /** Age after which an event leaves history. */
  ttlSeconds: z.number().positive(),
});

/** Timing of one demo model; speeds are scaled by `demo.speed`. */
const demoModel = z.strictObject({
  name: z.string().min(1),
  firstTokenMs: z.number().min(0),
  tokensPerSecond: z.number().positive(),
  /** Answer length, in tokens, for the standard tier (brief is ~0.6x, extended ~1.8x). */
  answerTokens: z.number().int().positive(),
  /** Fails deterministically for some prompts (before the first token or mid-stream). */
  flaky: z.boolean().default(false),
});

/** A model named in the config (upstream id, without the provider prefix). */
const providerModel = z.strictObject({
  id: z.string().min(1).max(200),
  name: z.string().min(1).optional(),
  contextLength: z.number().int().positive().optional(),
  /** USD per million tokens. */
  pricing: z.strictObject({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) }).optional(),
});

/**
 * One upstream. `openai`, `openrouter` and `anthropic` have presets (dialect, base URL);
 * any other name needs `dialect` and `baseUrl`.
 */
const provider = z.strictObject({
  dialect: z.enum(['openai', 'anthropic']).optional(),
  /** OpenAI dialect: up to and including `/v1`; Anthropic: without `/v1` (as their SDKs take it). */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  apiKey: z.string().min(1).optional(),
  /** Display name in the catalogue. */
  label: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string()).default({}),
  models: z.array(providerModel).default([]),
  /** Add the upstream's own listing (`GET /models`) to the configured models. */
  listModels: z.boolean().default(true),
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
  /** OpenAI dialect: send `stream_options.include_usage` (turn off for servers that reject it). */
  includeUsage: z.boolean().default(true),
  timeouts: z.strictObject({
    firstTokenMs: z.number().int().positive().default(60_000),
    idleMs: z.number().int().positive().default(30_000),
    totalMs: z.number().int().positive().default(600_000),
  }).prefault({}),
  retry: z.strictObject({
    maxRetries: z.number().int().min(0).max(10).default(2),
    baseDelayMs: z.number().int().min(0).default(250),
    maxDelayMs: z.number().int().min(0).default(5_000),
  }).prefault({}),
  connections: z.number().int().positive().default(128),
  keepAliveMs: z.number().int().positive().default(30_000),
});

export const configSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    bodyLimitBytes: z.number().int().positive().default(1_048_576),
    /** How long a clean shutdown waits for running generations before cancelling them. */
    shutdownGraceMs: z.number().int().min(0).default(5_000),
    /** A client must send its request headers within this time (slow-header attacks). */
    headersTimeoutMs: z.number().int().positive().default(10_000),
    /** …and the whole request, body included, within this (slow bodies); responses (streams) are not bounded. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
  }).prefault({}),
  /** Limits on every JSON body and WebSocket message, checked before parsing. */
  input: z.strictObject({
    maxJsonDepth: z.number().int().min(1).max(1_000).default(64),
    maxStringLength: z.number().int().positive().default(262_144),
    maxItems: z.number().int().positive().default(10_000),
  }).prefault({}),
  dataDir: z.string().min(1).default('.data'),
  database: z.strictObject({
    /** postgres://… to use PostgreSQL; unset means SQLite at <dataDir>/tributary.db. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    /** PostgreSQL schema (tests use one per run). */
    schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
  }).prefault({}),
  streams: z.strictObject({
    history: history.default({ size: 50_000, ttlSeconds: 600 }),
    /** Events held in memory across all topics; past it the oldest finished topics are forgotten first. */
    maxEventsTotal: z.number().int().positive().default(500_000),
    /** Most events one resume may replay; beyond it the answer is recovered:false. */
    maxReplay: z.number().int().positive().default(50_000),
    /** Bytes a subscriber may have queued before it is cut off as a slow consumer. */
    subscriberBufferBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Bytes a replay may queue for its client before waiting for it to read (bounds memory when many resume at once). */
    replayBufferBytes: z.number().int().positive().default(256 * 1024),
    sseRetryMs: z.number().int().positive().default(1_000),
    sseHeartbeatMs: z.number().int().positive().default(15_000),
  }).prefault({}),
  compare: z.strictObject({
    maxModels: z.number().int().min(1).max(64).default(12),
    tiers: z.strictObject({ brief: tier, standard: tier, extended: tier }).default({
      brief: { maxInputChars: 1_000, maxOutputTokens: 2_000 },
      standard: { maxInputChars: 5_000, maxOutputTokens: 4_000 },
      extended: { maxInputChars: 15_000, maxOutputTokens: 8_192 },
    }),
    /** Earlier messages a model sees in a follow-up; older ones are dropped and reported. */
    historyMessages: z.number().int().min(0).default(20),
    defaultChatModel: z.string().min(1).default('demo/balanced'),
  }).prefault({}),
  demo: z.strictObject({
    /** Multiplies every demo model's speed (tests use large values; 0 waits are kept at 0). */
    speed: z.number().positive().default(1),
    models: z.record(z.string().regex(/^demo\/[a-z0-9-]+$/), demoModel).optional(),
  }).prefault({}),
  realtime: z.strictObject({
    /** Bearer key that authorises `POST /v1/publish`; unset disables HTTP publishing. */
    publishKey: z.string().min(16).optional(),
    /** HS256 secret of connection tokens (JWT); unset means anonymous connections only. */
    tokenSecret: z.string().min(16).optional(),
    /** Anonymous connections may subscribe to the `public:` namespace. */
    anonymousPublic: z.boolean().default(true),
    /** Native WebSocket: app-level ping interval; a client silent for two intervals is dropped. */
    pingIntervalMs: z.number().int().positive().default(25_000),
    /** Seed WebSocket (`/v2/realtime/stream`) ping interval. */
    seedPingIntervalMs: z.number().int().positive().default(30_000),
    /** Events at least this large (bytes of JSON) go out deflated to clients that negotiated it. */
    compressionThresholdBytes: z.number().int().min(0).default(1_024),
    /** Largest frame a client may send (WebSocket maxPayload). */
    maxFrameBytes: z.number().int().positive().default(64 * 1024),
    /** Largest event `data` (bytes of JSON) a publish may carry. */
    maxEventBytes: z.number().int().positive().default(64 * 1024),
    maxBatch: z.number().int().positive().default(500),
    maxChannelsPerConnection: z.number().int().positive().default(100),
    /** How long an idempotency key remembers its publish. */
    idempotencyTtlSeconds: z.number().int().positive().default(600),
    idempotencyMaxKeys: z.number().int().positive().default(100_000),
    /** Long-poll: how long a poll with nothing new waits. */
    pollTimeoutMs: z.number().int().positive().default(25_000),
    /** Long-poll: after the first new event, gather what follows for this long before answering. */
    pollLingerMs: z.number().int().min(0).default(20),
    /** Close a WebSocket that has not completed its handshake in this time. */
    handshakeTimeoutMs: z.number().int().positive().default(10_000),
    /** Client frames per second a WebSocket may send on average (bursts up to `maxChannelsPerConnection` + 100); past it: close 4029. */
    maxFramesPerSecond: z.number().int().positive().default(100),
    /**
     * Origins (`https://app.example.com`) besides the server's own host whose WebSocket upgrades
     * may carry cookies; other cross-origin upgrades with a Cookie header get 403.
     */
    allowedOrigins: z.array(z.string().min(1)).default([]),
  }).prefault({}),
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), provider)
    .default({})
    .superRefine((providers, ctx) => {
      for (const [id, p] of Object.entries(providers)) {
        if (id === 'demo') ctx.addIssue({ code: 'custom', path: [id], message: 'demo is the built-in provider' });
        if (['openai', 'openrouter', 'anthropic'].includes(id)) continue;
        if (!p.dialect) ctx.addIssue({ code: 'custom', path: [id, 'dialect'], message: 'required for a provider without a preset' });
        if (!p.baseUrl) ctx.addIssue({ code: 'custom', path: [id, 'baseUrl'], message: 'required for a provider without a preset' });
      }
    }),
  catalogue: z.strictObject({
    /** How long upstream model listings are reused before they are fetched again. */
    refreshSeconds: z.number().int().positive().default(3_600),
  }).prefault({}),
  web: z.strictObject({
    /** Serve the built web app at `/`. */
    enabled: z.boolean().default(true),
    /** Folder of the built app; unset means packages/web/dist beside the server. */
    dir: z.string().min(1).optional(),
  }).prefault({}),
  flags: z.strictObject({
    sse_streaming: z.boolean().default(true),
    /** Off: WebSocket upgrades answer 403 and clients fall back to SSE / long-poll. */
    websocket: z.boolean().default(true),
  }).prefault({}),
  usage: z.strictObject({
    flushIntervalMs: z.number().int().positive().default(250),
    batchSize: z.number().int().positive().default(200),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TierName = keyof Config['compare']['tiers'];
export type DemoModelConfig = z.infer<typeof demoModel>;
export type ProviderConfig = z.infer<typeof provider>;
