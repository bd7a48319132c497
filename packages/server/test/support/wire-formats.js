/**
 * Provider wire formats, byte for byte as the providers document them: OpenAI Chat
 * Completions streaming chunks (`data: {...}` … `data: [DONE]`, usage chunk with
 * `choices: []` under `stream_options.include_usage`) and Anthropic Messages streaming
 * events (`event: <type>` + `data: {...}`), plus their error bodies.
 */
export const MOCK_CREATED = 1_732_000_000;
export const MOCK_INPUT_TOKENS = 17;
/** The default answer: pieces with multi-byte characters so UTF-8 splits are exercised. */
/** `edgetext`: a NUL, a surrogate pair split over two pieces, and a lone low surrogate. */
export const EDGE_TEXT_PIECES = ['a\u0000', ' \ud83c', '\udf0a b', '\udc00'];
export const ANSWER_PIECES = ['Rivers', ' carry', ' water', ' to', ' the', ' sea', ' —', ' naïve', ' but', ' true', ' 🌊', '.'];
export function openaiFrame(payload) {
  return `data: ${JSON.stringify(payload)}\n\n`;
}
export function openaiChunk(model, delta, finishReason, includeUsage) {
  return {
    id: 'chatcmpl-mock9Zq2',
    object: 'chat.completion.chunk',
    created: MOCK_CREATED,
    model,
    service_tier: 'default',
    system_fingerprint: 'fp_mock01',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  };
}
/** Every frame of a whole OpenAI streamed answer, in order. */
export function openaiFrames(model, pieces, opts) {
  const frames = [openaiFrame(openaiChunk(model, { role: 'assistant', content: '', refusal: null }, null, opts.includeUsage))];
  for (const r of opts.reasoning ?? []) frames.push(openaiFrame(openaiChunk(model, { reasoning_content: r }, null, opts.includeUsage)));
  for (const piece of pieces) {
    const chunk = openaiChunk(model, { content: piece }, null, opts.includeUsage);
    if (opts.logprobs) chunk.choices[0].logprobs = { content: [{ token: piece, logprob: -0.25, bytes: null, top_logprobs: [] }], refusal: null };
    frames.push(openaiFrame(chunk));
  }
  frames.push(openaiFrame(openaiChunk(model, {}, opts.finish ?? 'stop', opts.includeUsage)));
  if (opts.includeUsage) {
    frames.push(
      openaiFrame({
        id: 'chatcmpl-mock9Zq2',
        object: 'chat.completion.chunk',
        created: MOCK_CREATED,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_mock01',
        choices: [],
        usage: {
          prompt_tokens: MOCK_INPUT_TOKENS,
          completion_tokens: pieces.length,
          total_tokens: MOCK_INPUT_TOKENS + pieces.length,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
        },
      }),
    );
  }
  frames.push('data: [DONE]\n\n');
  return frames;
}
export function anthropicFrame(type, payload) {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
}
/** Every event of a whole Anthropic streamed message, in order. */
export function anthropicFrames(model, pieces, opts = {}) {
  const frames = [
    anthropicFrame('message_start', {
      message: {
        id: 'msg_01MockXyZ',
        type: 'message',
        role: 'assistant',
        content: [],
        model,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: MOCK_INPUT_TOKENS, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
      },
    }),
  ];
  let index = 0;
  if (opts.thinking?.length) {
    frames.push(anthropicFrame('content_block_start', { index, content_block: { type: 'thinking', thinking: '' } }));
    for (const t of opts.thinking) frames.push(anthropicFrame('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: t } }));
    frames.push(anthropicFrame('content_block_stop', { index }));
    index++;
  }
  frames.push(anthropicFrame('content_block_start', { index, content_block: { type: 'text', text: '' } }));
  frames.push(anthropicFrame('ping', {}));
  for (const piece of pieces) frames.push(anthropicFrame('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
  frames.push(anthropicFrame('content_block_stop', { index }));
  frames.push(
    anthropicFrame('message_delta', {
      delta: { stop_reason: opts.finish === 'length' ? 'max_tokens' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: pieces.length },
    }),
  );
  frames.push(anthropicFrame('message_stop', {}));
  return frames;
}
/** Error bodies as each provider sends them for a status. */
export function errorBody(dialect, kind, model) {
  if (dialect === 'openai') {
    const e = {
      auth: {
        message: 'Incorrect API key provided: sk-wrong. You can find your API key at https://platform.openai.com/account/api-keys.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
      not_found: {
        message: `The model \`${model}\` does not exist or you do not have access to it.`,
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
      rate_limit: {
        message: `Rate limit reached for ${model} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 7s.`,
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
      server: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null },
      overloaded: { message: 'The engine is currently overloaded, please try again later', type: 'server_error', param: null, code: null },
      context: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens. Please reduce the length of the messages.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    }[kind];
    return JSON.stringify({ error: e });
  }
  const e = {
    auth: { type: 'authentication_error', message: 'invalid x-api-key' },
    not_found: { type: 'not_found_error', message: `model: ${model}` },
    rate_limit: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit.' },
    server: { type: 'api_error', message: 'Internal server error' },
    overloaded: { type: 'overloaded_error', message: 'Overloaded' },
    context: { type: 'invalid_request_error', message: 'prompt is too long: 210417 tokens > 200000 maximum' },
  }[kind];
  return JSON.stringify({ type: 'error', error: e, request_id: 'req_011Mock' });
}
/** The mock's tool call: `get_weather` for Paris, its arguments in three pieces. */
export const TOOL_CALL = { id: 'call_Mock7Tq', anthropicId: 'toolu_01MockTq', name: 'get_weather', argumentPieces: ['{"ci', 'ty": "Pa', 'ris"}'] };
/** A whole OpenAI streamed tool call, as OpenAI sends it (first piece: id, type, name, empty arguments). */
export function openaiToolFrames(model, opts) {
  const frames = [
    openaiFrame(
      openaiChunk(
        model,
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ index: 0, id: TOOL_CALL.id, type: 'function', function: { name: TOOL_CALL.name, arguments: '' } }],
          refusal: null,
        },
        null,
        opts.includeUsage,
      ),
    ),
  ];
  for (const piece of TOOL_CALL.argumentPieces)
    frames.push(openaiFrame(openaiChunk(model, { tool_calls: [{ index: 0, function: { arguments: piece } }] }, null, opts.includeUsage)));
  frames.push(openaiFrame(openaiChunk(model, {}, 'tool_calls', opts.includeUsage)));
  if (opts.includeUsage) {
    frames.push(
      openaiFrame({
        id: 'chatcmpl-mock9Zq2',
        object: 'chat.completion.chunk',
        created: MOCK_CREATED,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_mock01',
        choices: [],
        usage: { prompt_tokens: MOCK_INPUT_TOKENS, completion_tokens: 9, total_tokens: MOCK_INPUT_TOKENS + 9 },
      }),
    );
  }
  frames.push('data: [DONE]\n\n');
  return frames;
}
/** A whole Anthropic streamed message that says a few words, then calls the tool (`tool_use`, `input_json_delta`). */
export function anthropicToolFrames(model) {
  return [
    anthropicFrame('message_start', {
      message: {
        id: 'msg_01MockTool',
        type: 'message',
        role: 'assistant',
        content: [],
        model,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: MOCK_INPUT_TOKENS, output_tokens: 1 },
      },
    }),
    anthropicFrame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    anthropicFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Checking.' } }),
    anthropicFrame('content_block_stop', { index: 0 }),
    anthropicFrame('content_block_start', { index: 1, content_block: { type: 'tool_use', id: TOOL_CALL.anthropicId, name: TOOL_CALL.name, input: {} } }),
    anthropicFrame('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }),
    ...TOOL_CALL.argumentPieces.map((p) => anthropicFrame('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: p } })),
    anthropicFrame('content_block_stop', { index: 1 }),
    anthropicFrame('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } }),
    anthropicFrame('message_stop', {}),
  ];
}
/** The tool result the `tool` mock model was given, or undefined when the last turn is not one. */
export function toolResultOf(dialect, body) {
  const last = body.messages?.at(-1);
  if (dialect === 'openai') return last?.role === 'tool' ? String(last.content) : undefined;
  const block = Array.isArray(last?.content) ? last.content.find((b) => b.type === 'tool_result') : undefined;
  return block ? String(block.content) : undefined;
}
