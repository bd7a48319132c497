import { createHash } from 'node:crypto';
import { TributaryError } from '../errors.js';
import type { StreamHub } from '../streams/hub.js';
import { requireChannel } from './channels.js';
import { KeyReleased, MemoryIdempotencyStore, type IdempotencyStore } from './idempotency.js';
import type { RealtimeMetrics } from './metrics.js';

export interface PublishInput {
  channel: string;
  /** Event type; `message` by default. */
  type?: string | undefined;
  data: unknown;
  /** A retried publish with the same key is answered with the first result, not published again. */
  idempotencyKey?: string | undefined;
}

export interface PublishResult {
  channel: string;
  epoch: string;
  seq: number;
  /** True when the idempotency key had already published this event. */
  duplicate: boolean;
}

export interface PublishLimits {
  maxEventBytes: number;
  maxBatch: number;
  idempotencyTtlMs: number;
  idempotencyMaxKeys: number;
}

const EVENT_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/;
const RESERVED_TYPES = new Set(['recovery', 'error']);

/**
 * Appends events to channels: the HTTP publish API and in-process producers (jobs, compare)
 * both call this. Validates, de-duplicates by idempotency key, and refuses work once closing.
 */
export class PublishService {
  private readonly idempotency: IdempotencyStore<Omit<PublishResult, 'duplicate'>>;
  private closing = false;

  constructor(
    private readonly hub: StreamHub,
    private readonly metrics: RealtimeMetrics,
    private readonly limits: PublishLimits,
    /** Shared by every node of a cluster (Redis); this process's memory by default. */
    idempotency?: IdempotencyStore<Omit<PublishResult, 'duplicate'>>,
  ) {
    this.idempotency = idempotency ?? new MemoryIdempotencyStore(limits.idempotencyTtlMs, limits.idempotencyMaxKeys);
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    const { channel, type, bytes } = this.check(input);
    if (input.idempotencyKey === undefined) return { ...(await this.append(channel, type, input.data)), duplicate: false };
    const fingerprint = createHash('sha256').update(`${channel}\n${type}\n`).update(bytes).digest('base64url');
    const key = input.idempotencyKey;
    for (;;) {
      const claim = await this.idempotency.claim(key, fingerprint);
      if ('conflict' in claim) throw new TributaryError('idempotency_conflict', `Idempotency key ${JSON.stringify(key)} was used for a different publish.`);
      if ('result' in claim) {
        try {
          const earlier = await claim.result;
          this.metrics.duplicatesSuppressed++;
          return { ...earlier, duplicate: true };
        } catch (err) {
          if (err instanceof KeyReleased) continue;
          throw err;
        }
      }
      let result: Omit<PublishResult, 'duplicate'>;
      try {
        result = await this.append(channel, type, input.data);
      } catch (err) {
        // A failed publish may be retried with the same key.
        await this.idempotency.release(key, fingerprint).catch(() => undefined);
        throw err;
      }
      // Published either way; should the answer not be stored, a retry publishes again once the claim expires.
      await this.idempotency.settle(key, fingerprint, result).catch(() => undefined);
      return { ...result, duplicate: false };
    }
  }

  /** Publishes in order; every item is validated before the first is published. */
  async publishBatch(inputs: PublishInput[]): Promise<PublishResult[]> {
    if (inputs.length > this.limits.maxBatch) {
      throw new TributaryError('invalid_field', `A batch holds at most ${this.limits.maxBatch} events.`, { field: 'events' });
    }
    inputs.forEach((input, i) => this.check(input, `events.${i}.`));
    // All appended at once, in order (each reaches the backend synchronously): a shared backend
    // sends the batch in one pipeline instead of one round trip per event.
    return Promise.all(inputs.map((input) => this.publish(input)));
  }

  /** Refuses further publishes (shutdown): what was accepted is in the log already. */
  close(): void {
    this.closing = true;
  }

  private check(input: PublishInput, where = '') {
    if (this.closing) throw new TributaryError('unavailable', 'The server is shutting down; publish again after it restarts.');
    const parsed = requireChannel(input.channel);
    if (parsed.namespace === 'job')
      throw new TributaryError('channel_forbidden', `${where}job: channels are written only by the job runner.`, { channel: parsed.name });
    const channel = parsed.name;
    const type = input.type ?? 'message';
    if (!EVENT_TYPE.test(type) || RESERVED_TYPES.has(type)) {
      throw new TributaryError('invalid_field', `${where}type must match ${EVENT_TYPE.source} and not be ${[...RESERVED_TYPES].join('/')}.`, {
        field: `${where}type`,
      });
    }
    if (input.data === undefined) throw new TributaryError('invalid_field', `${where}data is required.`, { field: `${where}data` });
    const bytes = Buffer.from(JSON.stringify(input.data));
    if (bytes.length > this.limits.maxEventBytes) {
      throw new TributaryError('event_too_large', `${where}data is ${bytes.length} bytes of JSON; at most ${this.limits.maxEventBytes}.`, {
        limit: this.limits.maxEventBytes,
      });
    }
    return { channel, type, bytes };
  }

  private async append(channel: string, type: string, data: unknown): Promise<Omit<PublishResult, 'duplicate'>> {
    const event = await this.hub.publish(channel, type, data);
    this.metrics.published++;
    return { channel, epoch: event.epoch, seq: event.seq };
  }
}
