import { z } from 'zod';

/**
 * The OpenAI bodies Tributary honours (Chat Completions, Responses). Strict: a field we would
 * silently drop (n > 1, audio, web search …) is an `unknown_field` error rather than a quiet
 * lie; a known field the model's provider cannot honour is refused later, per provider
 * (`unsupported_parameter`).
 */
const MAX_TEXT = 1_000_000;
const text = z.string().max(MAX_TEXT);
const textPart = z.strictObject({ type: z.literal('text'), text });
const content = z.union([text, z.array(textPart).max(1_000)]);
const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a tool name is 1-64 letters, digits, _ or -');
const jsonSchema = z.record(z.string(), z.unknown());
const toolCall = z.strictObject({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.strictObject({ name: toolName, arguments: text }),
});

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.enum(['system', 'developer', 'user']), content, name: z.string().max(256).optional() }),
  z.strictObject({
    role: z.literal('assistant'),
    content: content.nullish(),
    name: z.string().max(256).optional(),
    tool_calls: z.array(toolCall).max(128).optional(),
    refusal: z.string().max(MAX_TEXT).nullish(),
  }),
  z.strictObject({ role: z.literal('tool'), content, tool_call_id: z.string().min(1).max(256) }),
]);

const functionTool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: toolName,
    description: z.string().max(100_000).optional(),
    parameters: jsonSchema.optional(),
    strict: z.boolean().nullish(),
  }),
});

const sampling = {
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  user: z.string().max(256).nullish(),
};

export const chatCompletionBody = z.strictObject({
  model: z.string().min(1).max(200),
  messages: z.array(message).min(1, 'at least one message is required').max(1_000),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  n: z.literal(1).nullish(),
  ...sampling,
  tools: z.array(functionTool).min(1).max(128).nullish(),
  tool_choice: z
    .union([z.enum(['auto', 'none', 'required']), z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: toolName }) })])
    .nullish(),
  response_format: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        json_schema: z.strictObject({
          name: z.string().max(64),
          description: z.string().max(100_000).optional(),
          schema: jsonSchema.optional(),
          strict: z.boolean().nullish(),
        }),
      }),
    ])
    .nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100)).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});

const inputPart = z.strictObject({
  type: z.enum(['input_text', 'output_text']),
  text,
  annotations: z.array(z.unknown()).max(1_000).optional(),
  logprobs: z.array(z.unknown()).optional(),
});
const itemMeta = { id: z.string().max(256).optional(), status: z.enum(['in_progress', 'completed', 'incomplete']).optional() };
const inputItem = z.union([
  z.strictObject({
    type: z.literal('message').optional(),
    role: z.enum(['system', 'developer', 'user', 'assistant']),
    content: z.union([text, z.array(inputPart).max(1_000)]),
    ...itemMeta,
  }),
  z.strictObject({ type: z.literal('function_call'), call_id: z.string().min(1).max(256), name: toolName, arguments: text, ...itemMeta }),
  z.strictObject({
    type: z.literal('function_call_output'),
    call_id: z.string().min(1).max(256),
    output: z.union([text, z.array(inputPart).max(1_000)]),
    ...itemMeta,
  }),
  z.strictObject({ type: z.literal('item_reference'), id: z.string().min(1).max(256) }),
]);

/** The Responses body (`POST /v1/responses`); input item types beyond these are refused by name before parsing. */
export const responsesBody = z.strictObject({
  model: z.string().min(1).max(200),
  input: z.union([text, z.array(inputItem).min(1).max(1_000)]),
  instructions: text.nullish(),
  stream: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  ...sampling,
  tools: z
    .array(
      z.strictObject({
        type: z.literal('function'),
        name: toolName,
        description: z.string().max(100_000).nullish(),
        parameters: jsonSchema.nullish(),
        strict: z.boolean().nullish(),
      }),
    )
    .max(128)
    .nullish(),
  tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.strictObject({ type: z.literal('function'), name: toolName })]).nullish(),
  text: z
    .strictObject({
      format: z
        .discriminatedUnion('type', [
          z.strictObject({ type: z.literal('text') }),
          z.strictObject({ type: z.literal('json_object') }),
          z.strictObject({
            type: z.literal('json_schema'),
            name: z.string().max(64),
            schema: jsonSchema.optional(),
            description: z.string().max(100_000).optional(),
            strict: z.boolean().nullish(),
          }),
        ])
        .optional(),
    })
    .nullish(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  // Nothing is stored either way; `store` is accepted because it changes nothing about this answer.
  store: z.boolean().nullish(),
  previous_response_id: z.string().max(256).nullish(),
  include: z.array(z.string().max(200)).max(20).nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
});
