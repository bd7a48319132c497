import { z } from 'zod';
import type { TributaryError } from '../errors.js';
import { parseJson, type JsonLimits } from '../input/json.js';

/**
 * Client→server frames of the native WebSocket protocol (docs/realtime.md), version 1.
 * Parsing knows nothing of sockets: it answers a frame or a coded problem.
 */
const requestId = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().max(64)]).optional();
const position = z.strictObject({ epoch: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), seq: z.number().int().min(0) });

const frames = {
  connect: z.strictObject({ type: z.literal('connect'), version: z.number(), token: z.string().max(8192).optional(), id: requestId }),
  subscribe: z.strictObject({
    type: z.literal('subscribe'),
    id: requestId,
    channel: z.string().max(255),
    /** Resume after this position; without it, live from now (or everything kept, with `from: "start"`). */
    position: position.optional(),
    from: z.literal('start').optional(),
  }),
  unsubscribe: z.strictObject({ type: z.literal('unsubscribe'), id: requestId, channel: z.string().max(255) }),
  ping: z.strictObject({ type: z.literal('ping'), id: requestId }),
  pong: z.strictObject({ type: z.literal('pong') }).passthrough(),
};

export type ClientFrame = { [K in keyof typeof frames]: z.output<(typeof frames)[K]> }[keyof typeof frames];
export const PROTOCOL_VERSION = 1;

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: 'malformed_frame' | 'unknown_type' | 'invalid_field' | JsonLimitCode; message: string; id?: unknown; fatal: boolean };

type JsonLimitCode = 'too_deep' | 'string_too_long' | 'too_many_elements';

/** A client frame as JSON within the input limits; a limit crossed or bad JSON is a fatal `{code, message}`. */
export function parseFrameJson(
  text: string,
  limits: JsonLimits,
): { ok: true; value: unknown } | { ok: false; code: 'malformed_frame' | JsonLimitCode; message: string } {
  try {
    return { ok: true, value: parseJson(text, limits) };
  } catch (err) {
    const e = err as TributaryError;
    return e.code === 'invalid_json'
      ? { ok: false, code: 'malformed_frame', message: 'The frame is not JSON.' }
      : { ok: false, code: e.code as JsonLimitCode, message: e.message };
  }
}

export function parseClientFrame(text: string, limits: JsonLimits): ParsedFrame {
  const json = parseFrameJson(text, limits);
  if (!json.ok) return { ...json, fatal: true };
  const value = json.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'malformed_frame', message: 'The frame is not a JSON object.', fatal: true };
  }
  const { type, id } = value as { type?: unknown; id?: unknown };
  if (typeof type !== 'string' || !Object.hasOwn(frames, type)) {
    return { ok: false, code: 'unknown_type', message: `Unknown message type ${JSON.stringify(type)?.slice(0, 40)}.`, id, fatal: false };
  }
  const result = frames[type as keyof typeof frames].safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : type);
    return { ok: false, code: 'invalid_field', message: `${type}: ${where}: ${issue.message}`, id, fatal: false };
  }
  return { ok: true, frame: result.data as ClientFrame };
}
