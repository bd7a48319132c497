import { z } from 'zod';

/**
 * Request bodies and queries. Native ones are strict: an unknown field is an error. Seed ones
 * (`seed…`) are lenient: existing clients send fields of their own, which are ignored
 * (`parseLenient` logs them).
 */

const tier = z.enum(['brief', 'standard', 'extended']);
const modelId = z.string().min(1).max(200);
// Generous caps that only bound memory; the configured limits give the precise errors.
const models = z.array(modelId).min(1, 'at least one model is required').max(1_000);
const content = z.string().max(1_000_000);
const id = z.string().min(1).max(100);

export const seedHistory = z.array(z.object({ role: z.enum(['user', 'assistant']), content, model_id: modelId.nullish() })).max(1_000);

// CompareAI's app sends its own numeric conversation ids; ours are strings.
const seedConversationId = z.union([id, z.number().int().transform(String)]).nullish();
/** CompareAI's browser fingerprint: an extra anonymous rate-limit bucket; its script sends null when it has none. */
const fingerprint = z.string().max(512).nullish();
/** A credential where EventSource and WebSocket clients cannot send headers (http/identity.ts reads it). */
const accessToken = z.string().min(1).max(4096).optional();

export const seedCompareBody = z.object({
  input_data: content,
  models,
  tier: tier.default('standard'),
  conversation_history: seedHistory.nullish(),
  conversation_id: seedConversationId,
  browser_fingerprint: fingerprint,
});

export const seedChatBody = z.object({
  query: content,
  model: modelId.optional(),
  tier: tier.default('standard'),
  conversation_history: seedHistory.nullish(),
  conversation_id: seedConversationId,
  browser_fingerprint: fingerprint,
});

/** Where clients that cannot set the Last-Event-ID header send it (read by last-event-id.ts). */
export const RESUME_QUERY = {
  lastEventId: z.string().optional(),
  last_event_id: z.string().optional(),
  lastEventID: z.string().optional(),
};

export const seedChatQuery = z.object({
  query: content,
  model: modelId.optional(),
  tier: tier.default('standard'),
  conversation_id: seedConversationId,
  browser_fingerprint: fingerprint,
  access_token: accessToken,
  ...RESUME_QUERY,
});

export const comparisonBody = z.strictObject({
  prompt: content,
  models,
  tier: tier.default('standard'),
  conversationId: id.optional(),
  history: z
    .array(z.strictObject({ role: z.enum(['user', 'assistant']), content, model: modelId.nullish() }))
    .max(1_000)
    .optional(),
});

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  conversationId: id.optional(),
});

export const streamQuery = z.strictObject({ ...RESUME_QUERY, access_token: accessToken });

export const idParams = z.strictObject({ id });

export const deleteQuery = z.strictObject({
  purge: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});

export function historyFromSeed(history: z.infer<typeof seedHistory> | null | undefined) {
  return history?.map((m) => ({ role: m.role, content: m.content, modelId: m.model_id ?? null }));
}

// realtime
const publishItem = z.strictObject({
  channel: z.string().max(255),
  type: z.string().max(64).optional(),
  data: z.unknown(),
  idempotencyKey: z.string().min(1).max(200).optional(),
});
export const publishBody = publishItem;
export const publishBatchBody = z.strictObject({ events: z.array(publishItem).min(1) });
const channelList = z.string().min(1).max(8192);
const token = z.string().max(8192).optional();
export const subscribeQuery = z.strictObject({ channels: channelList, token, access_token: accessToken, lastEventId: z.string().max(4096).optional() });
export const pollQuery = z.strictObject({
  channels: channelList,
  token,
  access_token: accessToken,
  cursor: z.string().max(4096).optional(),
  timeoutMs: z.coerce.number().int().min(0).optional(),
});
