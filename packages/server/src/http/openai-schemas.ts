import { z } from 'zod';

/**
 * The OpenAI Chat Completions body Tributary honours. Strict: a field we would silently drop
 * (tools, n > 1, logprobs …) is an `unknown_field` error rather than a quiet lie.
 */
const textPart = z.strictObject({ type: z.literal('text'), text: z.string().max(1_000_000) });
const message = z.strictObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string().max(1_000_000), z.array(textPart).max(1_000)]).nullable(),
  name: z.string().max(256).optional(),
});

export const chatCompletionBody = z.strictObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1, 'at least one message is required').max(1_000),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  n: z.literal(1).nullish(),
  user: z.string().max(256).optional(),
});
