import type { Config } from '../config/schema.js';
import type { RealtimeMetrics } from '../realtime/metrics.js';
import type { StreamHub } from '../streams/hub.js';
import type { AuditRecord, OpsStore } from '../store/types.js';
import { Alerts, alertWebhook } from './alerts.js';
import { FlagService } from './flag-service.js';
import { Flags, InProcessFlagBus, type FlagChangeBus } from './flags.js';
import { identityKeyOf, type FlagCaller, type RequestLike } from './identity-key.js';
import { OpsMetrics, type JobGauges } from './metrics.js';
import { OpsSignals } from './signals.js';
import { OpsSnapshots } from './snapshot.js';

/** What the app hands the ops side to log with (pino's shape). */
export interface OpsLog {
  warn(obj: object, msg: string): void;
}

export interface Observation {
  /** Undefined when `ops.metricsEnabled` is off: nothing is observed. */
  metrics: OpsMetrics | undefined;
  signals: OpsSignals;
}

/**
 * The first half, before the hub and the providers exist (they are built with its observer and
 * timer). `modelOf` looks a model id up in the catalogue; unknown ids are labelled `other`.
 */
export function observeStreams(config: Config, modelOf: (id: string) => { id: string; provider: string } | undefined): Observation {
  const signals = new OpsSignals(config.ops.alerts.windowSeconds * 1000);
  const metrics = config.ops.metricsEnabled
    ? new OpsMetrics((id) => {
        const info = modelOf(id);
        return info && { model: info.id, provider: info.provider };
      }, signals)
    : undefined;
  return { metrics, signals };
}

export interface Ops extends Observation {
  flags: Flags;
  flagService: FlagService;
  alerts: Alerts;
  /** The identity flags bucket by (see `identityKeyOf`; http/flag-identity.ts resolves the caller). */
  identityKeyOf(caller: FlagCaller, request: RequestLike): string;
  /** The hook of identity's rate limiter: one call per rejection (class: anonymous, user, key, …). */
  rateLimited(identityClass: string): void;
  close(): Promise<void>;
}

/** The second half: flags (stored state applied), alerts, and the dashboard's snapshot feed. */
export async function startOps(
  config: Config,
  observation: Observation,
  deps: {
    hub: StreamHub;
    realtime: RealtimeMetrics;
    store: OpsStore;
    log: OpsLog;
    flagBus?: FlagChangeBus | undefined;
    audit: (row: Omit<AuditRecord, 'at'>) => void;
    /** The job queue, read from the database (gauges and the dashboard). */
    jobs?: () => Promise<JobGauges>;
  },
): Promise<Ops> {
  const { metrics, signals } = observation;
  const flags = new Flags(config.flags);
  const flagService = new FlagService(flags, deps.store, deps.flagBus ?? new InProcessFlagBus(), deps.audit);
  await flagService.start((err) => deps.log.warn({ err }, 'flag reload failed'));
  metrics?.exposeRealtime(deps.realtime);
  if (deps.jobs) metrics?.exposeJobs(deps.jobs);
  const alerts = new Alerts(config.ops.alerts, signals, deps.realtime);
  const { webhookUrl } = config.ops.alerts;
  if (webhookUrl) alerts.onChange(alertWebhook(webhookUrl, (err) => deps.log.warn({ err }, 'alert webhook failed')));
  alerts.onChange((alert) => deps.log.warn({ alert: alert.name, state: alert.state, value: alert.value }, 'alert'));
  const snapshots = new OpsSnapshots(
    { hub: deps.hub, signals, realtime: deps.realtime, flags, alerts, gaps: metrics?.gap, jobs: deps.jobs },
    config.ops.snapshotIntervalMs,
  );
  if (metrics) {
    alerts.start();
    // The dashboard's feed changes as soon as a flag or an alert does, not only on the next tick.
    const publish = () => void snapshots.publish().catch(() => undefined);
    alerts.onChange(publish);
    flags.onChange(publish);
    snapshots.start();
  }
  return {
    metrics,
    signals,
    flags,
    flagService,
    alerts,
    identityKeyOf: (caller, request) => identityKeyOf(caller, request, config.ops.anonymousCookieSecret),
    rateLimited(identityClass) {
      metrics?.rateLimited(identityClass);
      signals.rateLimited();
    },
    async close() {
      alerts.stop();
      snapshots.stop();
      await flagService.close();
    },
  };
}
