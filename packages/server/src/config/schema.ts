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
  /** Accept this provider's model ids without the `<provider>/` prefix (default: OpenRouter's, when it has a key). */
  bareIds: z.boolean().optional(),
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
  /** OpenAI dialect: send `stream_options.include_usage` (turn off for servers that reject it). */
  includeUsage: z.boolean().default(true),
  timeouts: z
    .strictObject({
      firstTokenMs: z.number().int().positive().default(60_000),
      idleMs: z.number().int().positive().default(30_000),
      totalMs: z.number().int().positive().default(600_000),
    })
    .prefault({}),
  retry: z
    .strictObject({
      maxRetries: z.number().int().min(0).max(10).default(2),
      baseDelayMs: z.number().int().min(0).default(250),
      maxDelayMs: z.number().int().min(0).default(5_000),
    })
    .prefault({}),
  connections: z.number().int().positive().default(128),
  keepAliveMs: z.number().int().positive().default(30_000),
});

const FLAG_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** A rollout rule: identities in `allow` are in, in `deny` out, the rest by a sticky bucket below `rollout` %. */
export const flagRule = z.strictObject({
  enabled: z.boolean().default(true),
  rollout: z.number().min(0).max(100).default(100),
  allow: z.array(z.string().min(1).max(200)).max(1_000).default([]),
  deny: z.array(z.string().min(1).max(200)).max(1_000).default([]),
});
const flag = z.union([z.boolean(), flagRule]);
type LimitDefaults = {
  requestsPerMinute: number | null;
  responsesPerDay: number | null;
  maxModels: number | null;
  extendedPerDay: number | null;
  tokensPerDay: number | null;
};

/** One limit class, each field defaulted on its own; null is no limit. */
const classLimits = (d: LimitDefaults) =>
  z
    .strictObject({
      requestsPerMinute: z.number().int().positive().nullable().default(d.requestsPerMinute),
      /** Model responses per UTC day: a request naming 3 models uses 3. */
      responsesPerDay: z.number().int().positive().nullable().default(d.responsesPerDay),
      maxModels: z.number().int().positive().nullable().default(d.maxModels),
      /** Requests on the extended tier per UTC day. */
      extendedPerDay: z.number().int().min(0).nullable().default(d.extendedPerDay),
      /** Input + output tokens per UTC day (checked before a request, counted after it). */
      tokensPerDay: z.number().int().positive().nullable().default(d.tokensPerDay),
    })
    .prefault({});

/** A tier overrides the `user` class field by field (an API key's own limits have the same shape). */
export const tierLimits = z.strictObject({
  requestsPerMinute: z.number().int().positive().nullable().optional(),
  responsesPerDay: z.number().int().positive().nullable().optional(),
  maxModels: z.number().int().positive().nullable().optional(),
  extendedPerDay: z.number().int().min(0).nullable().optional(),
  tokensPerDay: z.number().int().positive().nullable().optional(),
});

const identity = z.strictObject({
  /** HS256 secret of access tokens; unset means one generated into <dataDir>/auth-secret (0600) at first start. */
  authSecret: z.string().min(32).optional(),
  accessTokenTtlSeconds: z.number().int().positive().default(900),
  refreshTokenTtlSeconds: z
    .number()
    .int()
    .positive()
    .default(30 * 24 * 3600),
  /**
   * A refresh token presented again within this many seconds of its rotation is refused but
   * not treated as theft (two tabs refreshing at once); later, reuse revokes the session.
   */
  refreshReuseGraceSeconds: z.number().min(0).default(10),
  /** scrypt cost (N, a power of two), block size and parallelism; N=16384,r=8 uses 16 MiB per hash. */
  scrypt: z
    .strictObject({
      cost: z
        .number()
        .int()
        .min(2)
        .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
        .default(16_384),
      blockSize: z.number().int().positive().default(8),
      parallelization: z.number().int().positive().default(1),
    })
    .prefault({}),
  minPasswordLength: z.number().int().min(1).default(8),
  /** Off: every model route needs a user or an API key. */
  anonymous: z.boolean().default(true),
  /** Where limit counters live: Redis (the default when `redis.url` is set), the database (the default otherwise; shared by every node) or this process's memory (single node, no write per request). */
  limitStore: z.enum(['database', 'memory', 'redis']).optional(),
  /** Peers (IPs or CIDRs) whose X-Forwarded-For is believed; none by default. */
  trustedProxies: z.array(z.string().min(1)).default([]),
  /** The first admin, created (or promoted) at start. */
  adminEmail: z.email().optional(),
  adminPassword: z.string().min(1).optional(),
  /** Failed sign-ins allowed per window, per account and per client IP. */
  login: z
    .strictObject({
      maxFailuresPerAccount: z.number().int().positive().default(5),
      maxFailuresPerIp: z.number().int().positive().default(20),
      windowSeconds: z.number().int().positive().default(900),
      /** Accounts one IP may create per UTC day (each account brings the user limits). */
      maxRegistrationsPerIpPerDay: z.number().int().positive().default(10),
    })
    .prefault({}),
  limits: z
    .strictObject({
      anonymous: classLimits({ requestsPerMinute: 30, responsesPerDay: 10, maxModels: 3, extendedPerDay: 0, tokensPerDay: 100_000 }),
      user: classLimits({ requestsPerMinute: 120, responsesPerDay: 200, maxModels: 12, extendedPerDay: 20, tokensPerDay: 2_000_000 }),
      /** Named tiers an admin can give a user; each overrides `user` field by field. */
      tiers: z.record(z.string().regex(/^[a-z0-9_-]+$/), tierLimits).default({}),
    })
    .prefault({}),
  /** USD per million tokens by model id, for usage cost estimates (a provider model's own pricing is used otherwise). */
  pricing: z.record(z.string(), z.strictObject({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) })).default({}),
  audit: z
    .strictObject({
      retentionDays: z.number().positive().default(90),
      purgeIntervalMinutes: z.number().positive().default(60),
    })
    .prefault({}),
});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        bodyLimitBytes: z.number().int().positive().default(1_048_576),
        /** How long a clean shutdown waits for running generations before cancelling them. */
        shutdownGraceMs: z.number().int().min(0).default(5_000),
        cors: z
          .strictObject({
            /** Origins (`https://app.example.com`) whose pages may call the API; `*` for any. None: same-origin only. */
            origins: z
              .array(z.union([z.literal('*'), z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin such as https://app.example.com (no path)')]))
              .default([]),
            /** Let those pages send cookies and Authorization (never with `*`). */
            credentials: z.boolean().default(false),
            /** How long a browser may cache a preflight answer. */
            maxAgeSeconds: z.number().int().min(0).default(600),
          })
          .prefault({})
          .refine((c) => !(c.credentials && c.origins.includes('*')), {
            message: 'origins "*" cannot be combined with credentials: list the origins',
            path: ['origins'],
          }),
        /** A client must send its request headers within this time (slow-header attacks). */
        headersTimeoutMs: z.number().int().positive().default(10_000),
        /** …and the whole request, body included, within this (slow bodies); responses (streams) are not bounded. */
        requestTimeoutMs: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    /** Limits on every JSON body and WebSocket message, checked before parsing. */
    input: z
      .strictObject({
        maxJsonDepth: z.number().int().min(1).max(1_000).default(64),
        maxStringLength: z.number().int().positive().default(262_144),
        maxItems: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    dataDir: z.string().min(1).default('.data'),
    database: z
      .strictObject({
        /** postgres://… to use PostgreSQL; unset means SQLite at <dataDir>/tributary.db. */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
          .optional(),
        /** PostgreSQL schema (tests use one per run). */
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/)
          .optional(),
      })
      .prefault({}),
    /** Shared state of a cluster when `url` is set: the stream log, comparison leases and cancels, limit counters, flag changes, idempotency keys, the job queue. */
    redis: z
      .strictObject({
        /** Unset: memory and the database, one node. */
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'must be a redis:// URL')
          .optional(),
        /** Prefix of every key and channel (several deployments or tests on one Redis). */
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_:.-]*$/)
          .default('tributary:'),
      })
      .prefault({}),
    streams: z
      .strictObject({
        history: history.default({ size: 50_000, ttlSeconds: 600 }),
        /** Events held in memory across all topics; past it the oldest finished topics are forgotten first. */
        maxEventsTotal: z.number().int().positive().default(500_000),
        /** Most events one resume may replay; beyond it the answer is recovered:false. */
        maxReplay: z.number().int().positive().default(50_000),
        /** Bytes a subscriber may have queued before it is cut off as a slow consumer. */
        subscriberBufferBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        /** Bytes a replay may queue for its client before waiting for it to read (bounds memory when many resume at once). */
        replayBufferBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024),
        sseRetryMs: z.number().int().positive().default(1_000),
        sseHeartbeatMs: z.number().int().positive().default(15_000),
      })
      .prefault({}),
    compare: z
      .strictObject({
        maxModels: z.number().int().min(1).max(64).default(12),
        tiers: z.strictObject({ brief: tier, standard: tier, extended: tier }).default({
          brief: { maxInputChars: 1_000, maxOutputTokens: 2_000 },
          standard: { maxInputChars: 5_000, maxOutputTokens: 4_000 },
          extended: { maxInputChars: 15_000, maxOutputTokens: 8_192 },
        }),
        /** Earlier messages a model sees in a follow-up; older ones are dropped and reported. */
        historyMessages: z.number().int().min(0).default(20),
        defaultChatModel: z.string().min(1).default('demo/balanced'),
        /**
         * With Redis: a running comparison's lease, renewed by its node every third of this; when a
         * node dies, another ends its comparisons as interrupted within about 1.5× this.
         */
        leaseMs: z.number().int().min(300).default(10_000),
      })
      .prefault({}),
    demo: z
      .strictObject({
        /** Multiplies every demo model's speed (tests use large values; 0 waits are kept at 0). */
        speed: z.number().positive().default(1),
        models: z.record(z.string().regex(/^demo\/[a-z0-9-]+$/), demoModel).optional(),
      })
      .prefault({}),
    realtime: z
      .strictObject({
        /** Bearer key that authorises `POST /v1/publish`; unset disables HTTP publishing. */
        publishKey: z.string().min(16).optional(),
        /** HS256 secret of connection tokens (JWT); unset means anonymous connections only. */
        tokenSecret: z.string().min(16).optional(),
        /** `tributary serve` generates the secrets left unset into `<dataDir>/realtime-secrets.json` (0600). */
        generateSecrets: z.boolean().default(true),
        /** Anonymous connections may subscribe to the `public:` namespace. */
        anonymousPublic: z.boolean().default(true),
        /** Native WebSocket: app-level ping interval; a client silent for two intervals is dropped. */
        pingIntervalMs: z.number().int().positive().default(25_000),
        /** Seed WebSocket (`/v2/realtime/stream`) ping interval. */
        seedPingIntervalMs: z.number().int().positive().default(30_000),
        /** Events at least this large (bytes of JSON) go out deflated to clients that negotiated it. */
        compressionThresholdBytes: z.number().int().min(0).default(1_024),
        /** Largest frame a client may send (WebSocket maxPayload). */
        maxFrameBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024),
        /** Largest event `data` (bytes of JSON) a publish may carry. */
        maxEventBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024),
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
      })
      .prefault({}),
    providers: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), provider)
      .default({})
      .superRefine((providers, ctx) => {
        for (const [id, p] of Object.entries(providers)) {
          if (id === 'demo') ctx.addIssue({ code: 'custom', path: [id], message: 'demo is the built-in provider' });
          if (['openai', 'openrouter', 'anthropic'].includes(id)) continue;
          if (!p.dialect) ctx.addIssue({ code: 'custom', path: [id, 'dialect'], message: 'required for a provider without a preset' });
          if (!p.baseUrl) ctx.addIssue({ code: 'custom', path: [id, 'baseUrl'], message: 'required for a provider without a preset' });
        }
      }),
    models: z
      .strictObject({
        /** Another id for a model: `"anthropic/claude-3.5-sonnet": "openrouter/anthropic/claude-3.5-sonnet"`. */
        aliases: z.record(z.string().min(1).max(200), z.string().min(1).max(200)).default({}),
      })
      .prefault({}),
    catalogue: z
      .strictObject({
        /** How long upstream model listings are reused before they are fetched again. */
        refreshSeconds: z.number().int().positive().default(3_600),
      })
      .prefault({}),
    web: z
      .strictObject({
        /** Serve the built web app at `/`. */
        enabled: z.boolean().default(true),
        /** Folder of the built app; unset means packages/web/dist beside the server. */
        dir: z.string().min(1).optional(),
      })
      .prefault({}),
    /**
     * Feature flags: `true`/`false`, or a rollout rule. Changed at runtime through the admin API
     * (persisted; the stored state wins over this at start). More flags may be defined here.
     */
    flags: z
      .object({
        sse_streaming: flag.default(true),
        /** Off: WebSocket upgrades answer 403 and clients fall back to SSE / long-poll (kill switch). */
        websocket: flag.default(true),
        /** Who gets the WebSocket transports; a client outside it is closed with 4010 and falls back. */
        realtime_ws: flag.default(true),
      })
      .catchall(flag)
      .superRefine((flags, ctx) => {
        for (const name of Object.keys(flags)) {
          if (!FLAG_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `flag names match ${FLAG_NAME}` });
        }
      })
      .prefault({}),
    ops: z
      .strictObject({
        /** Prometheus series at `/metrics`; off, nothing is observed (the bench compares both). */
        metricsEnabled: z.boolean().default(true),
        /** Bearer token `/metrics` requires; unset means open (keep it on a private network). */
        metricsToken: z.string().min(16).optional(),
        /** Bearer token of the admin API and dashboard (until identity brings admin users); unset disables them. */
        adminToken: z.string().min(16).optional(),
        /** HMAC secret of the signed anonymous cookie `tributary_anon` that flag rollout buckets by. */
        anonymousCookieSecret: z.string().min(16).optional(),
        /** How often the `ops:metrics` snapshot is published to the dashboard. */
        snapshotIntervalMs: z.number().int().positive().default(2_000),
        alerts: z
          .strictObject({
            /** Sliding window the rules look at. */
            windowSeconds: z.number().positive().default(300),
            evaluateIntervalMs: z.number().int().positive().default(10_000),
            /** Fewest model runs / connections in the window before a rate rule may fire. */
            minSamples: z.number().int().min(1).default(20),
            gatewayAddedP95Ms: z.number().positive().default(150),
            /** End-to-end TTFT p95 target (model time included). */
            ttftP95Ms: z.number().positive().default(3_000),
            errorRatePercent: z.number().min(0).max(100).default(1),
            connectionSuccessPercent: z.number().min(0).max(100).default(95),
            rateLimitViolationsPerHour: z.number().min(0).default(10),
            memoryPercent: z.number().min(0).max(100).default(80),
            /** Memory limit RSS is compared with; unset turns the memory rule off. */
            memoryLimitBytes: z.number().int().positive().optional(),
            /** Firing and resolved states are POSTed here as JSON. */
            webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Acknowledged means durable: commits before final events, checkpoints, outage budget (docs/configuration.md). */
    durability: z
      .strictObject({
        /**
         * A running model's text is checkpointed after this many new tokens… (At real rates, under
         * ~250 tokens/s, the time bound below fires first; this one caps a very fast model's writes.)
         */
        checkpointTokens: z.number().int().positive().default(256),
        /** …and every this long when it has text not yet saved (a timer: a model that stalls still has its latest text saved). */
        checkpointMs: z.number().int().positive().default(1_000),
        /** Group commit: how long a commit someone waits for may gather other writes (0: SQLite commits at once when idle). */
        commitDelayMs: z.number().int().min(0).default(0),
        /** Bytes queued writes may hold while the database is down; past it new work gets 503. */
        maxPendingBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024 * 1024),
        /** First and longest wait between retries of a failed write batch. */
        retryMinMs: z.number().int().positive().default(100),
        retryMaxMs: z.number().int().positive().default(5_000),
        /** At start, keep retrying an unreachable database this long, then exit. */
        startupRetryMs: z.number().int().min(0).default(30_000),
        /** SQLite `synchronous` in WAL mode: normal survives a process crash; full also a power loss. */
        sqliteSynchronous: z.enum(['normal', 'full']).default('normal'),
        /** On shutdown, how long queued writes are retried against a failing database before they are given up (and logged). */
        closeTimeoutMs: z.number().int().min(0).default(10_000),
        /** Non-streaming /compare and /chat: how long an answer waits for its commit before 503. */
        ackTimeoutMs: z.number().int().positive().default(10_000),
        /** Retry-After (seconds) sent with 503 unavailable. */
        retryAfterSeconds: z.number().int().positive().default(5),
      })
      .prefault({}),
    usage: z
      .strictObject({
        flushIntervalMs: z.number().int().positive().default(250),
        batchSize: z.number().int().positive().default(200),
      })
      .prefault({}),
    identity: identity.prefault({}),
    jobs: z
      .strictObject({
        /** Items running at once on this node, across all jobs. */
        concurrency: z.number().int().positive().default(32),
        /** Items of one job running at once unless the job asks for fewer (or more, up to the max). */
        perJobConcurrency: z.number().int().positive().default(8),
        maxPerJobConcurrency: z.number().int().positive().default(64),
        /** Items running at once per provider id (e.g. `openai`); others get the default. */
        providerConcurrency: z.record(z.string(), z.number().int().positive()).default({}),
        defaultProviderConcurrency: z.number().int().positive().default(16),
        /** Prompts × models of one job. */
        maxItems: z.number().int().positive().default(100_000),
        /** Largest upload (JSONL or CSV). */
        uploadLimitBytes: z
          .number()
          .int()
          .positive()
          .default(10 * 1024 * 1024),
        retry: z
          .strictObject({
            /** Provider calls per item before a retryable failure is final. */
            maxAttempts: z.number().int().min(1).max(20).default(3),
            baseDelayMs: z.number().int().min(0).default(1_000),
            maxDelayMs: z.number().int().min(0).default(60_000),
          })
          .prefault({}),
        /** How long a worker's claim on an item lasts without renewal (renewed every third of it). */
        leaseMs: z.number().int().positive().default(30_000),
        /** Items a worker claims (leases) per database round trip; unstarted ones wait in its buffer. */
        claimBatch: z.number().int().positive().default(64),
        /** Finished items gather this long before one write records them all (group commit), then they are reported. */
        commitDelayMs: z.number().int().min(0).default(20),
        /** How often workers look for new or due work. */
        pollMs: z.number().int().positive().default(500),
        /** At most one `job.progress` event per job per interval. */
        progressIntervalMs: z.number().int().min(0).default(200),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
  })
  .refine((c) => c.identity.limitStore !== 'redis' || c.redis.url !== undefined, {
    path: ['identity', 'limitStore'],
    message: 'redis needs redis.url (REDIS_URL)',
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TierName = keyof Config['compare']['tiers'];
export type DemoModelConfig = z.infer<typeof demoModel>;
export type FlagRule = z.infer<typeof flagRule>;
export type ProviderConfig = z.infer<typeof provider>;
export type IdentityConfig = z.infer<typeof identity>;
export type ClassLimits = LimitDefaults;
export type TierLimits = z.infer<typeof tierLimits>;
