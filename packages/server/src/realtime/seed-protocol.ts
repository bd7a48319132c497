import { z } from 'zod';
import type { LogEvent } from '../streams/types.js';
import { isServiceName, serviceOf } from './channels.js';

/**
 * The seed's `/v2/realtime/stream` protocol (DESIGN.md): the client's handshake
 * `{"services":[…],"version":1,"lastSeq":N | {service:N}}`, then the server's frames. An
 * optional `epochs` map (ours) lets a client say which epoch its `lastSeq` belongs to.
 */
const service = z.string().refine(isServiceName, 'a service is 1–64 of [A-Za-z0-9_.@-]');
const seq = z.number().int().min(0);

export const seedHandshake = z.strictObject({
  services: z.array(service).min(1).max(100),
  version: z.number(),
  lastSeq: z.union([seq, z.record(z.string(), seq)]).optional(),
  epochs: z.record(z.string(), z.string().regex(/^[A-Za-z0-9_-]{1,32}$/)).optional(),
});
export type SeedHandshake = z.output<typeof seedHandshake>;

/** Later frames a seed client may send. */
export const seedClientFrame = z.object({ type: z.enum(['ping', 'pong', 'ack']) });

export function lastSeqFor(handshake: SeedHandshake, svc: string): number | undefined {
  const { lastSeq } = handshake;
  if (lastSeq === undefined) return undefined;
  return typeof lastSeq === 'number' ? lastSeq : lastSeq[svc];
}

/** `{"type":"event","service","events":[…],"seq":N}`: seq is the channel's sequence number. */
export function seedEventFrame(e: LogEvent): string {
  const service = serviceOf(e.topic);
  return JSON.stringify({
    type: 'event',
    service,
    seq: e.seq,
    epoch: e.epoch,
    events: [{ seq: e.seq, type: e.type, channel: e.topic, data: e.data, timestamp: new Date(e.time).toISOString() }],
  });
}
