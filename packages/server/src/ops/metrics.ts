import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BatchSink, GenerationChunk, GenerationRequest, Provider } from '../llm/provider.js';
import type { RealtimeMetrics, TransportName } from '../realtime/metrics.js';
import type { HubObserver } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';
import { SeriesHistogram, type HistogramSeries } from './series-histogram.js';

/** Catalogue labels of a model id, or undefined for one the catalogue does not know (→ `other`). */
export type ModelLabels = (modelId: string) => { model: string; provider: string } | undefined;

/** The job queue as the jobs room counts it (jobs/types.ts `JobQueueStats`). */
export interface JobGauges {
  jobs: Record<string, number>;
  queuedItems: number;
  runningItems: number;
}

/** What the windows of alerts and the dashboard are fed with, beside the Prometheus series. */
export interface StreamSignals {
  ttft(model: string, seconds: number): void;
  added(seconds: number): void;
  outcome(model: string, ok: boolean, code: string): void;
  tokens(count: number): void;
  resumed(recovered: boolean): void;
}

const OTHER = { model: 'other', provider: 'other' };
const TRANSPORTS: TransportName[] = ['websocket', 'seed', 'sse', 'poll'];

/**
 * The Prometheus series of one app, in its own registry (tests build many apps). A comparison's
 * model runs are timed by their token loop (`timeTokens`) and counted from the hub's final
 * events; the realtime counters are read at scrape time.
 */
export class OpsMetrics {
  /** prom-client's metrics: counters, gauges, process defaults (the histograms render themselves). */
  readonly registry = new Registry();
  private readonly histograms: SeriesHistogram[] = [];
  private readonly ttft: SeriesHistogram;
  /** Also read by the dashboard for inter-token percentiles (bucket bounds). */
  readonly gap: SeriesHistogram;
  private readonly added: SeriesHistogram;
  private readonly outcomes: Counter<'model' | 'provider' | 'outcome'>;
  private readonly tokens: Counter<'model' | 'provider' | 'kind'>;
  private readonly reconnects: Counter<'recovered'>;
  private readonly rateLimits: Counter<'class'>;
  private readonly http: SeriesHistogram;

  constructor(
    private readonly labelsOf: ModelLabels,
    private readonly signals?: StreamSignals,
  ) {
    const registers = [this.registry];
    const modelLabels = ['model', 'provider'] as const;
    const histogram = (name: string, help: string, labels: readonly string[], buckets: number[]) => {
      const h = new SeriesHistogram(name, help, labels, buckets);
      this.histograms.push(h);
      return h;
    };
    this.ttft = histogram(
      'tributary_ttft_seconds',
      'Time to first token of a model run, from its start to the first token in the log.',
      modelLabels,
      [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.gap = histogram(
      'tributary_inter_token_gap_seconds',
      'Time between two consecutive tokens of a model run.',
      modelLabels,
      [0.0001, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    this.added = histogram(
      'tributary_gateway_added_latency_seconds',
      "Time Tributary adds to a model's first token: from the provider yielding it to the next read (published to every subscriber or written).",
      modelLabels,
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.15, 0.5],
    );
    this.outcomes = new Counter({
      name: 'tributary_stream_outcomes_total',
      help: 'Model runs by outcome: ok, truncated, or the error classification.',
      labelNames: [...modelLabels, 'outcome'],
      registers,
    });
    this.tokens = new Counter({
      name: 'tributary_usage_tokens_total',
      help: 'Tokens reported by providers, input and output.',
      labelNames: [...modelLabels, 'kind'],
      registers,
    });
    this.reconnects = new Counter({
      name: 'tributary_reconnects_total',
      help: 'Subscriptions that resumed from a position, by whether the gap was recovered.',
      labelNames: ['recovered'],
      registers,
    });
    this.http = histogram(
      'tributary_http_request_duration_seconds',
      'HTTP request duration by route pattern and status (streams: until the response ends).',
      ['method', 'route', 'status'],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60],
    );
    this.rateLimits = new Counter({
      name: 'tributary_rate_limit_rejections_total',
      help: 'Requests refused by the rate limiter, by identity class.',
      labelNames: ['class'],
      registers,
    });
    for (const recovered of ['true', 'false']) this.reconnects.labels(recovered).inc(0);
    collectDefaultMetrics({ register: this.registry, prefix: 'tributary_' });
  }

  /** Counts runs' outcomes and tokens from the hub's final events (nothing per token). */
  readonly hubObserver: HubObserver = {
    published: (event) => {
      if (event.type === 'model.done' || event.type === 'model.error') this.ended(event);
    },
    resumed: (_topic, recovered) => {
      this.reconnects.labels(recovered ? 'true' : 'false').inc();
      this.signals?.resumed(recovered);
    },
  };

  /** A rate-limit rejection (identity's limiter calls `Ops.rateLimited`). */
  rateLimited(identityClass: string): void {
    this.rateLimits.labels(identityClass).inc();
  }

  /** Counts a finished HTTP request under its route pattern (never the URL: ids would be unbounded). */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.series(method, route, String(status)).observe(seconds);
  }

  /** Exposes the realtime hub's own counters at scrape time, so the hot path counts once. */
  exposeRealtime(metrics: RealtimeMetrics): void {
    const registers = [this.registry];
    const perTransport = (name: string, help: string, read: (t: TransportName) => number, type: 'counter' | 'gauge') => {
      const Metric = type === 'counter' ? Counter : Gauge;
      new Metric({
        name,
        help,
        labelNames: ['transport'],
        registers,
        collect(this: Counter<'transport'> | Gauge<'transport'>) {
          this.reset();
          for (const t of TRANSPORTS) (this as Gauge<'transport'>).labels(t).inc(read(t));
        },
      });
    };
    perTransport('tributary_connections_active', 'Open realtime connections by transport.', (t) => metrics.activeBy(t), 'gauge');
    perTransport(
      'tributary_connection_attempts_total',
      'Realtime connection requests by transport (before authentication).',
      (t) => metrics.attempts[t],
      'counter',
    );
    perTransport('tributary_connection_successes_total', 'Realtime connections established by transport.', (t) => metrics.successes[t], 'counter');
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect(this: Counter) {
          this.reset();
          this.inc(read());
        },
      });
    counter('tributary_events_published_total', 'Events published to realtime channels.', () => metrics.published);
    counter('tributary_events_delivered_total', 'Realtime events handed to connections.', () => metrics.eventsDelivered);
    counter('tributary_compressed_messages_total', 'Deflated frames handed to WebSocket connections.', () => metrics.compressedMessages);
    counter('tributary_slow_consumer_disconnects_total', 'Realtime connections cut for not reading fast enough.', () => metrics.slowConsumerDisconnects);
    counter('tributary_missed_events_replayed_total', 'Events replayed to resuming realtime subscribers.', () => metrics.missedEventsReplayed);
  }

  /**
   * Jobs by state and the queue, read from the database at scrape time: one read serves the
   * scrape's three gauges. A read that fails leaves the last values (a scrape never fails for it).
   */
  exposeJobs(read: () => Promise<JobGauges>): void {
    const registers = [this.registry];
    let last: JobGauges = { jobs: {}, queuedItems: 0, runningItems: 0 };
    let reading: Promise<JobGauges> | undefined;
    const current = () => {
      reading ??= read()
        .then((g) => (last = g))
        .catch(() => last)
        .finally(() => setImmediate(() => (reading = undefined)));
      return reading;
    };
    new Gauge({
      name: 'tributary_jobs',
      help: 'Jobs by state.',
      labelNames: ['state'],
      registers,
      async collect(this: Gauge<'state'>) {
        const g = await current();
        for (const [state, n] of Object.entries(g.jobs)) this.labels(state).set(n);
      },
    });
    const gauge = (name: string, help: string, value: (g: JobGauges) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect(this: Gauge) {
          this.set(value(await current()));
        },
      });
    gauge('tributary_job_queue_depth', 'Job items waiting to run (retries waiting out their backoff included).', (g) => g.queuedItems);
    gauge('tributary_job_items_running', 'Job items leased by a worker on any node: running, or claimed to run next.', (g) => g.runningItems);
  }

  /**
   * Wraps a provider to time the first token's way through the gateway, on its per-read paths
   * (the relay and batches of an HTTP upstream). `stream` passes through untouched: a per-chunk
   * wrapper cost every job item and comparison token a call; comparisons time their own runs.
   */
  instrument(provider: Provider): Provider {
    const added = (model: string, seconds: number) => {
      const labels = this.labelsOf(model) ?? OTHER;
      this.added.series(labels.model, labels.provider).observe(seconds);
      this.signals?.added(seconds);
    };
    return {
      id: provider.id,
      listModels: () => provider.listModels(),
      ...(provider.close ? { close: () => provider.close!() } : {}),
      ...(provider.supports ? { supports: (model: string) => provider.supports!(model) } : {}),
      stream: (request) => provider.stream(request),
      // The gateway reads whole upstream reads when the provider offers them: keep that path.
      ...(provider.streamBatches
        ? {
            streamBatches(request: GenerationRequest) {
              const inner = provider.streamBatches!(request);
              return { [Symbol.asyncIterator]: () => firstTokenTimer(inner[Symbol.asyncIterator](), hasTokenIn, (s) => added(request.model, s)) };
            },
          }
        : {}),
      ...(provider.relay
        ? {
            relay: (request: GenerationRequest, sink: BatchSink) =>
              provider.relay!(
                request,
                firstTokenSink(sink, (s) => added(request.model, s)),
              ),
          }
        : {}),
    };
  }

  /** The registry's families, then the histograms', in one exposition (families apart by a blank line, as prom-client writes them). */
  async scrape(): Promise<{ contentType: string; body: string }> {
    let body = await this.registry.metrics();
    for (const h of this.histograms) body += `\n${h.render()}\n`;
    return { contentType: this.registry.contentType, body };
  }

  /** A timer for one model run, started now (`RunTimer`). */
  readonly timeTokens = (model: string): RunTimer => {
    const labels = this.labelsOf(model) ?? OTHER;
    return new RunTimer(
      labels.model,
      this.ttft.series(labels.model, labels.provider),
      this.gap.series(labels.model, labels.provider),
      this.added.series(labels.model, labels.provider),
      this.signals,
    );
  };

  private ended(event: LogEvent): void {
    const data = event.data as {
      model: string;
      status: string;
      usage?: { inputTokens: number; outputTokens: number };
      outputTokens?: number;
      error?: { code: string };
    };
    const labels = this.labelsOf(data.model) ?? OTHER;
    const outcome = data.error?.code ?? data.status;
    this.outcomes.labels(labels.model, labels.provider, outcome).inc();
    this.signals?.outcome(labels.model, !data.error, outcome);
    const input = data.usage?.inputTokens ?? 0;
    const output = data.usage?.outputTokens ?? data.outputTokens ?? 0;
    if (input) this.tokens.labels(labels.model, labels.provider, 'input').inc(input);
    if (output) this.tokens.labels(labels.model, labels.provider, 'output').inc(output);
    this.signals?.tokens(input + output);
  }
}

/**
 * Times one model run from the token loop: its first token is the run's TTFT, each later one a
 * gap, and the first one's way to every subscriber the added latency. A token costs one bucket,
 * and a clock read only when its provider did not say when it had it (a delta's `at`): in the
 * fan-out benchmark a clock read per token cost ~5 % of the CPU per token. The times are fields,
 * not closure variables, so a token allocates nothing.
 */
export class RunTimer {
  private readonly startedAt = performance.now();
  private firstAt = 0;
  private last = 0;

  constructor(
    private readonly model: string,
    private readonly ttft: HistogramSeries,
    private readonly gap: HistogramSeries,
    private readonly added: HistogramSeries,
    private readonly signals: StreamSignals | undefined,
  ) {}

  token(at: number | undefined): void {
    if (this.firstAt !== 0) {
      const now = at ?? performance.now();
      this.gap.observe((now - this.last) / 1000);
      this.last = now;
      return;
    }
    // The first token: read now, so that TTFT and the added latency share one clock.
    this.firstAt = performance.now();
    this.last = at ?? this.firstAt;
    const seconds = (this.firstAt - this.startedAt) / 1000;
    this.ttft.observe(seconds);
    this.signals?.ttft(this.model, seconds);
  }

  firstPublished(): void {
    const seconds = (performance.now() - this.firstAt) / 1000;
    this.added.observe(seconds);
    this.signals?.added(seconds);
  }
}

/**
 * An iterator over `inner` that reports the time between the first text delta leaving it and
 * the consumer asking for the next chunk; after that, `next` is a plain call through.
 */
function firstTokenTimer<T>(inner: AsyncIterator<T>, hasToken: (value: T) => boolean, report: (seconds: number) => void): AsyncIterator<T> {
  let firstAt = -1; // -1: waiting for the first delta; then its time; 0: reported
  return {
    next() {
      if (firstAt === 0) return inner.next();
      if (firstAt > 0) {
        report((performance.now() - firstAt) / 1000);
        firstAt = 0;
        return inner.next();
      }
      return inner.next().then((r) => {
        if (!r.done && hasToken(r.value)) firstAt = performance.now();
        return r;
      });
    },
    return: (value?: unknown) => inner.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
    throw: (err?: unknown) => inner.throw?.(err) ?? Promise.reject(err),
  };
}

/** `firstTokenTimer` for a pushed relay: the time the sink took over the first batch with a text delta. */
function firstTokenSink(sink: BatchSink, report: (seconds: number) => void): BatchSink {
  let timed = false;
  return {
    batch(chunks) {
      if (timed || !hasTokenIn(chunks)) return sink.batch(chunks);
      timed = true;
      const at = performance.now();
      const ok = sink.batch(chunks);
      report((performance.now() - at) / 1000);
      return ok;
    },
    drained: () => sink.drained(),
  };
}

// A kept JSON literal longer than `""` is text: no decoding it just to look.
const isToken = (c: GenerationChunk) => c.type === 'delta' && (c.json !== undefined ? c.json.length > 2 : c.text !== '');
const hasTokenIn = (batch: GenerationChunk[]) => batch.some(isToken);
