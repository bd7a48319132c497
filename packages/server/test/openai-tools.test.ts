import type OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatewayRig, type GatewayRig } from './support/gateway-rig.js';
import { TOOL_CALL, openaiToolFrames } from './support/wire-formats.js';

type Msg = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Call = { id: string; function: { name: string; arguments: string } };

const TOOLS: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];
const ARGUMENTS = TOOL_CALL.argumentPieces.join('');
const RESULT = '22°C and sunny';

describe('OpenAI gateway: tools and parameters, driven by the official openai SDK', () => {
  const rig = gatewayRig(50);
  let server: GatewayRig['server'];
  let mocks: GatewayRig['mocks'];
  let client: OpenAI;
  beforeAll(() => ({ server, mocks, client } = rig));

  /** One step of a tool loop: streamed (tool calls assembled from their deltas) or whole. */
  async function step(model: string, messages: Msg[], stream: boolean): Promise<{ text: string; calls: Call[]; finish: string | null }> {
    if (!stream) {
      const c = await client.chat.completions.create({ model, messages, tools: TOOLS });
      const m = c.choices[0]!.message;
      const calls = (m.tool_calls ?? []).map((c) => ({ id: c.id, function: (c as Call).function }));
      return { text: m.content ?? '', calls, finish: c.choices[0]!.finish_reason };
    }
    const s = await client.chat.completions.create({ model, messages, tools: TOOLS, stream: true });
    let text = '';
    let finish: string | null = null;
    const calls: Call[] = [];
    for await (const chunk of s) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      text += choice.delta.content ?? '';
      for (const d of choice.delta.tool_calls ?? []) {
        const call = (calls[d.index] ??= { id: '', function: { name: '', arguments: '' } });
        if (d.id) call.id = d.id;
        if (d.function?.name) call.function.name = d.function.name;
        call.function.arguments += d.function?.arguments ?? '';
      }
      finish = choice.finish_reason ?? finish;
    }
    return { text, calls, finish };
  }

  /** The whole loop: the model calls get_weather, we answer it, the model uses the answer. */
  async function toolLoop(model: string, stream: boolean) {
    const messages: Msg[] = [
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: 'Weather in Paris?' },
    ];
    const first = await step(model, messages, stream);
    expect(first.finish).toBe('tool_calls');
    expect(first.calls).toHaveLength(1);
    expect(first.calls[0]!.function).toEqual({ name: 'get_weather', arguments: ARGUMENTS });
    messages.push({
      role: 'assistant',
      content: first.text || null,
      tool_calls: first.calls.map((c) => ({ id: c.id, type: 'function' as const, function: c.function })),
    });
    messages.push({ role: 'tool', tool_call_id: first.calls[0]!.id, content: RESULT });
    const second = await step(model, messages, stream);
    expect(second).toEqual({ text: `Tool said: ${RESULT}`, calls: [], finish: 'stop' });
    return first;
  }

  it.each([false, true])('runs a tool loop through an OpenAI upstream (stream: %s)', async (stream) => {
    const first = await toolLoop('mockai/tool', stream);
    expect(first.calls[0]!.id).toBe(TOOL_CALL.id);
    const [ask, answer] = mocks.openai.exchanges
      .filter((e) => e?.model === 'tool')
      .slice(-2)
      .map((e) => e!.body);
    expect(ask.tools).toEqual(TOOLS);
    expect(answer.messages.slice(-2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: TOOL_CALL.id, type: 'function', function: { name: 'get_weather', arguments: ARGUMENTS } }] },
      { role: 'tool', tool_call_id: TOOL_CALL.id, content: RESULT },
    ]);
  });

  it.each([false, true])('runs a tool loop through an Anthropic upstream: tool_use ↔ tool_calls, tool → tool_result (stream: %s)', async (stream) => {
    const first = await toolLoop('mockant/tool', stream);
    expect(first.calls[0]!.id).toBe(TOOL_CALL.anthropicId);
    expect(first.text).toBe('Checking.');
    const [ask, answer] = mocks.anthropic.exchanges
      .filter((e) => e?.model === 'tool')
      .slice(-2)
      .map((e) => e!.body);
    expect(ask.tools).toEqual([{ name: 'get_weather', description: 'Current weather in a city', input_schema: TOOLS[0]!.function.parameters }]);
    expect(ask.system).toBe('Use tools.');
    expect(answer.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: TOOL_CALL.anthropicId, name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: TOOL_CALL.anthropicId, content: RESULT }] },
    ]);
  });

  it('maps tool_choice and parallel_tool_calls onto Anthropic, and user onto metadata', async () => {
    const cases: [OpenAI.Chat.Completions.ChatCompletionToolChoiceOption, boolean | undefined, unknown][] = [
      ['auto', undefined, { type: 'auto' }],
      ['required', undefined, { type: 'any' }],
      ['none', undefined, { type: 'none' }],
      [{ type: 'function', function: { name: 'get_weather' } }, false, { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true }],
    ];
    for (const [choice, parallel, expected] of cases) {
      await client.chat.completions.create({
        model: 'mockant/ok',
        messages: [{ role: 'user', content: 'Hi' }],
        tools: TOOLS,
        tool_choice: choice,
        user: 'u-42',
        ...(parallel !== undefined ? { parallel_tool_calls: parallel } : {}),
      });
      const sent = mocks.anthropic.exchanges.at(-1)!.body;
      expect(sent.tool_choice).toEqual(expected);
      expect(sent.metadata).toEqual({ user_id: 'u-42' });
    }
  });

  it("relays an upstream tool call chunk for chunk, in OpenAI's wire shape", async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mockai/tool', messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS, stream: true }),
    });
    const frames = (await res.text()).split('\n\n').filter(Boolean);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)));
    const upstream = openaiToolFrames('tool', { includeUsage: false })
      .slice(0, -1)
      .map((f: string) => JSON.parse(f.slice(6)));
    const head = { id: chunks[0].id, object: 'chat.completion.chunk', created: chunks[0].created, model: 'mockai/tool', system_fingerprint: null };
    const choice = (delta: object, finish: string | null) => ({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
    expect(chunks).toEqual([
      choice({ role: 'assistant', content: '' }, null),
      // Each upstream tool_calls delta, element for element as the upstream sent it.
      ...upstream.slice(0, -1).map((u: any) => choice({ tool_calls: u.choices[0].delta.tool_calls }, null)),
      choice({}, 'tool_calls'),
    ]);
  });

  it('passes every Chat Completions parameter through to an OpenAI upstream', async () => {
    const params = {
      tools: TOOLS,
      tool_choice: 'required',
      parallel_tool_calls: false,
      stop: ['END'],
      seed: 7,
      temperature: 0.3,
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { '50256': -100 },
      user: 'u-1',
      logprobs: true,
      top_logprobs: 2,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } }, strict: true },
      },
    } as const;
    await client.chat.completions.create({
      model: 'mockai/ok',
      messages: [{ role: 'user', content: 'Hi' }],
      max_completion_tokens: 33,
      n: 1,
      ...params,
    } as any);
    const sent = mocks.openai.exchanges.at(-1)!.body;
    expect(sent).toMatchObject({ ...params, max_tokens: 33, stream: true });
    await client.chat.completions.create({ model: 'mockai/ok', messages: [{ role: 'user', content: 'Hi' }], response_format: { type: 'json_object' } });
    expect(mocks.openai.exchanges.at(-1)!.body.response_format).toEqual({ type: 'json_object' });
  });

  it('refuses a parameter the provider cannot honour with a precise 400, before any upstream call', async () => {
    const before = mocks.anthropic.count('ok');
    const refused = async (model: string, extra: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], ...extra }),
      });
      expect(res.status).toBe(400);
      return ((await res.json()) as { error: { code: string; param: string; type: string; message: string } }).error;
    };
    for (const [param, value] of [
      ['response_format', { type: 'json_object' }],
      ['seed', 1],
      ['logprobs', true],
      ['logit_bias', { '1': 1 }],
      ['presence_penalty', 1],
    ] as const) {
      const error = await refused('mockant/ok', { [param]: value });
      expect(error).toMatchObject({ code: 'unsupported_parameter', param, type: 'invalid_request_error' });
      expect(error.message).toContain('mockant');
    }
    expect(await refused('demo/fast', { logprobs: true })).toMatchObject({ code: 'unsupported_parameter', param: 'logprobs' });
    expect(await refused('mockant/ok', { tools: [{ ...TOOLS[0], function: { ...TOOLS[0]!.function, strict: true } }] })).toMatchObject({
      code: 'unsupported_parameter',
      param: 'tools',
    });
    expect(await refused('mockai/ok', { tool_choice: 'required' })).toMatchObject({ code: 'invalid_field', param: 'tool_choice' });
    expect(await refused('mockai/ok', { tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } })).toMatchObject({
      code: 'invalid_field',
      param: 'tool_choice',
    });
    expect(await refused('mockai/ok', { n: 2 })).toMatchObject({ code: 'invalid_field', param: 'n' });
    const named = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mockant/ok', messages: [{ role: 'user', content: 'Hi', name: 'ada' }] }),
    });
    expect(await named.json()).toMatchObject({ error: { code: 'unsupported_parameter', param: 'messages[].name' } });
    await client.chat.completions.create({ model: 'mockai/ok', messages: [{ role: 'user', content: 'Hi', name: 'ada' }] });
    expect(mocks.openai.exchanges.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'Hi', name: 'ada' }]);
    // Defaults ask nothing: accepted by every provider.
    const ok = await client.chat.completions.create({
      model: 'mockant/ok',
      messages: [{ role: 'user', content: 'Hi' }],
      logprobs: false,
      response_format: { type: 'text' },
    });
    expect(ok.choices[0]!.finish_reason).toBe('stop');
    expect(mocks.anthropic.count('ok')).toBe(before + 1);
  });

  it('relays logprobs from an OpenAI upstream', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mockai/ok', messages: [{ role: 'user', content: 'Hi' }], logprobs: true, stream: true }),
    });
    const chunks = (await res.text())
      .split('\n\n')
      .filter((f) => f.startsWith('data: {'))
      .map((f) => JSON.parse(f.slice(6)));
    const withText = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(withText.length).toBeGreaterThan(0);
    for (const c of withText)
      expect(c.choices[0].logprobs).toEqual({ content: [{ token: c.choices[0].delta.content, logprob: -0.25, bytes: null, top_logprobs: [] }], refusal: null });
  });

  it.each([false, true])('demo models call the first tool with arguments from the prompt, then answer with its result (stream: %s)', async (stream) => {
    const messages: Msg[] = [{ role: 'user', content: 'Weather in Lisbon' }];
    const first = await step('demo/fast', messages, stream);
    expect(first.finish).toBe('tool_calls');
    expect(first.calls).toEqual([
      { id: expect.stringMatching(/^call_demo[0-9a-f]{8}$/), function: { name: 'get_weather', arguments: '{"city":"Weather in Lisbon"}' } },
    ]);
    messages.push({ role: 'assistant', content: null, tool_calls: first.calls.map((c) => ({ id: c.id, type: 'function' as const, function: c.function })) });
    messages.push({ role: 'tool', tool_call_id: first.calls[0]!.id, content: RESULT });
    expect(await step('demo/fast', messages, stream)).toEqual({ text: `The get_weather tool returned: ${RESULT}`, calls: [], finish: 'stop' });
    // tool_choice none: plain text.
    const none = await client.chat.completions.create({
      model: 'demo/fast',
      messages: [{ role: 'user', content: 'Hi' }],
      tools: TOOLS,
      tool_choice: 'none',
      max_tokens: 5,
    });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
    expect(none.choices[0]!.message.content).not.toBe('');
  });
});
