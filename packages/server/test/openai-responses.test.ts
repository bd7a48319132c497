import { createOpenAI } from '@ai-sdk/openai';
import { jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { DemoProvider } from '../src/llm/demo-provider.js';
import { gatewayRig, type GatewayRig } from './support/gateway-rig.js';
import { ANSWER_PIECES, MOCK_INPUT_TOKENS, TOOL_CALL } from './support/wire-formats.js';

const ANSWER = ANSWER_PIECES.join('');
const ARGUMENTS = TOOL_CALL.argumentPieces.join('');
const WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: null,
};

describe('POST /v1/responses (Responses API), driven by the openai SDK and the AI SDK', () => {
  const rig = gatewayRig(50);
  let server: GatewayRig['server'];
  let mocks: GatewayRig['mocks'];
  let client: OpenAI;
  beforeAll(() => ({ server, mocks, client } = rig));

  it('answers whole: instructions become the system prompt, output_text and usage', async () => {
    const response = await client.responses.create({ model: 'mockai/ok', instructions: 'Be brief.', input: 'Where do rivers go?', max_output_tokens: 40 });
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'mockai/ok',
      instructions: 'Be brief.',
      max_output_tokens: 40,
      error: null,
      usage: { input_tokens: MOCK_INPUT_TOKENS, output_tokens: ANSWER_PIECES.length, total_tokens: MOCK_INPUT_TOKENS + ANSWER_PIECES.length },
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe(ANSWER);
    expect(response.output).toEqual([
      {
        id: expect.stringMatching(/^msg_/),
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: ANSWER, annotations: [], logprobs: [] }],
      },
    ]);
    expect(mocks.openai.exchanges.at(-1)!.body).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Where do rivers go?' },
      ],
      max_tokens: 40,
    });
  });

  it("streams OpenAI's events in order, numbered from 0, with usage on response.completed", async () => {
    const stream = await client.responses.create({
      model: 'mockant/ok',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const types = events.map((e) => e.type);
    const deltas = ANSWER_PIECES.length;
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(text).toBe(ANSWER);
    const done = events.find((e) => e.type === 'response.output_text.done') as OpenAI.Responses.ResponseTextDoneEvent;
    expect(done).toMatchObject({ text: ANSWER, output_index: 0, content_index: 0 });
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.status).toBe('completed');
    expect(completed.response.usage).toMatchObject({ input_tokens: MOCK_INPUT_TOKENS, output_tokens: deltas });
    expect((events[0] as OpenAI.Responses.ResponseCreatedEvent).response).toMatchObject({ status: 'in_progress', output: [], usage: null });
  });

  it('frames each event with its event: line, as OpenAI does', async () => {
    const res = await fetch(`${server.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mockai/ok', input: 'Hi', stream: true }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const frames = (await res.text()).split('\n\n').filter(Boolean);
    for (const frame of frames) {
      const [event, data, ...rest] = frame.split('\n');
      expect(rest).toEqual([]);
      expect(JSON.parse(data!.slice('data: '.length)).type).toBe(event!.slice('event: '.length));
    }
  });

  it.each(['mockai/tool', 'mockant/tool'])('streams a function call from %s and takes its output back', async (model) => {
    const stream = await client.responses.create({ model, input: 'Weather in Paris?', tools: [WEATHER], stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const added = events.find(
      (e) => e.type === 'response.output_item.added' && e.item.type === 'function_call',
    ) as OpenAI.Responses.ResponseOutputItemAddedEvent;
    const callId = model === 'mockai/tool' ? TOOL_CALL.id : TOOL_CALL.anthropicId;
    expect(added.item).toMatchObject({ type: 'function_call', call_id: callId, name: 'get_weather', arguments: '', status: 'in_progress' });
    const argDeltas = events.flatMap((e) => (e.type === 'response.function_call_arguments.delta' ? [e.delta] : []));
    expect(argDeltas).toEqual(TOOL_CALL.argumentPieces);
    expect(events.find((e) => e.type === 'response.function_call_arguments.done')).toMatchObject({
      arguments: ARGUMENTS,
      name: 'get_weather',
      item_id: added.item.id,
      output_index: added.output_index,
    });
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    const call = completed.response.output.find((o) => o.type === 'function_call')!;
    expect(call).toMatchObject({ id: added.item.id, call_id: callId, arguments: ARGUMENTS, status: 'completed' });

    const next = await client.responses.create({
      model,
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        ...completed.response.output.map((o) => o as OpenAI.Responses.ResponseInputItem),
        { type: 'function_call_output', call_id: callId, output: '22°C' },
      ],
    });
    expect(next.output_text).toBe('Tool said: 22°C');
  });

  it('fails before the first event with a real status, after it with error and response.failed events', async () => {
    const limited = await client.responses.create({ model: 'mockai/e429', input: 'Hi', stream: true }).then(
      () => undefined,
      (err) => err,
    );
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    const stream = await client.responses.create({ model: 'mockai/reset', input: 'Hi', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed']);
    expect(events.at(-2)).toMatchObject({ code: 'network' });
    expect((events.at(-1) as OpenAI.Responses.ResponseFailedEvent).response).toMatchObject({ status: 'failed', error: { code: 'network' } });
    expect(events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('')).toBe(ANSWER_PIECES.slice(0, 3).join(''));
  });

  it('a demo model answers a function tool whole: a function_call item, then text from its output', async () => {
    const first = await client.responses.create({ model: 'demo/fast', input: 'Weather in Lisbon', tools: [WEATHER], tool_choice: 'required' });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(first.output).toHaveLength(1);
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"Weather in Lisbon"}', status: 'completed' });
    const next = await client.responses.create({
      model: 'demo/fast',
      tools: [WEATHER],
      input: [{ role: 'user', content: 'Weather in Lisbon' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'Mild' }],
    });
    expect(next.output_text).toBe('The get_weather tool returned: Mild');
    // The same step with the call named by reference, as the AI SDK sends items it saw before.
    const byReference = await client.responses.create({
      model: 'demo/fast',
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'Weather in Lisbon' },
        { type: 'item_reference', id: call.id! },
        { type: 'function_call_output', call_id: call.call_id, output: 'Mild' },
      ],
    });
    expect(byReference.output_text).toBe('The get_weather tool returned: Mild');
  });

  it('refuses what it cannot honour, naming the parameter', async () => {
    const refused = async (body: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      return ((await res.json()) as { error: { code: string; param: string } }).error;
    };
    expect(await refused({ model: 'mockai/ok', input: 'Hi', previous_response_id: 'resp_1' })).toMatchObject({
      code: 'unsupported_parameter',
      param: 'previous_response_id',
    });
    expect(
      await refused({
        model: 'mockai/ok',
        input: [
          { role: 'user', content: 'Hi' },
          { type: 'reasoning', id: 'rs_1', summary: [] },
        ],
      }),
    ).toMatchObject({ code: 'unsupported_parameter', param: 'input[1].type' });
    expect(
      await refused({
        model: 'mockai/ok',
        input: [
          { role: 'user', content: 'Hi' },
          { type: 'item_reference', id: 'msg_unknown' },
        ],
      }),
    ).toMatchObject({ code: 'invalid_field', param: 'input[1].id' });
    expect(await refused({ model: 'mockant/ok', input: 'Hi', text: { format: { type: 'json_object' } } })).toMatchObject({
      code: 'unsupported_parameter',
      param: 'text.format',
    });
    expect(await refused({ model: 'mockai/ok', input: 'Hi', web_search: true })).toMatchObject({ code: 'unknown_field', param: 'web_search' });
    const unknown = await fetch(`${server.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nosuch/x', input: 'Hi', stream: true }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'invalid_model', param: 'model' } });
  });

  it("the AI SDK's default OpenAI provider (Responses) streams text", async () => {
    const urls: string[] = [];
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: client.apiKey, fetch: (url, init) => (urls.push(String(url)), fetch(url, init)) });
    const result = streamText({ model: openai('demo/fast'), prompt: 'Explain rivers' });
    let text = '';
    for await (const piece of result.textStream) text += piece;
    const expected = new DemoProvider({ speed: 1 }).answer('demo/fast', 'standard', [{ role: 'user', content: 'Explain rivers' }], 8192).text;
    expect(text).toBe(expected);
    expect(await result.finishReason).toBe('stop');
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
    expect(urls).toEqual([`${server.url}/v1/responses`]);
  });

  it.each(['demo/fast', 'mockant/tool'])("the AI SDK's default OpenAI provider streams a tool call from %s", async (model) => {
    const openai = createOpenAI({ baseURL: `${server.url}/v1`, apiKey: client.apiKey });
    const result = streamText({
      model: openai(model),
      prompt: 'Weather in Paris',
      tools: {
        get_weather: tool({
          description: 'Current weather in a city',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
        }),
      },
    });
    const parts: string[] = [];
    for await (const part of result.fullStream) {
      if (part.type === 'error') throw part.error;
      parts.push(part.type);
    }
    expect(parts).toContain('tool-input-delta');
    const calls = await result.toolCalls;
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ toolName: 'get_weather', input: { city: model === 'demo/fast' ? 'Weather in Paris' : 'Paris' } });
    expect(await result.finishReason).toBe('tool-calls');
  });

  it.each(['demo/fast', 'mockai/tool'])('the AI SDK runs a multi-step tool loop (execute, stopWhen) on %s', async (model) => {
    const bodies: any[] = [];
    const openai = createOpenAI({
      baseURL: `${server.url}/v1`,
      apiKey: client.apiKey,
      fetch: (url, init) => (bodies.push(JSON.parse(String(init?.body))), fetch(url, init)),
    });
    const result = streamText({
      model: openai(model),
      prompt: 'Weather in Paris',
      stopWhen: stepCountIs(3),
      tools: {
        get_weather: tool({
          description: 'Current weather in a city',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: async () => '22°C',
        }),
      },
    });
    let text = '';
    for await (const piece of result.textStream) text += piece;
    expect(bodies).toHaveLength(2);
    expect(bodies[1].input.map((item: any) => item.type ?? item.role)).toEqual(['user', 'function_call', 'function_call_output']);
    expect(text).toContain('22°C');
    expect(await result.finishReason).toBe('stop');
  });
});
