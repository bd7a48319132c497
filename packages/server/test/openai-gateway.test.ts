import OpenAI, { APIError } from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { DemoProvider } from '../src/llm/demo-provider.js';
import { gatewayRig, type GatewayRig } from './support/gateway-rig.js';
import { ANSWER_PIECES, MOCK_INPUT_TOKENS } from './support/wire-formats.js';

const ANSWER = ANSWER_PIECES.join('');

describe('OpenAI-compatible gateway, driven by the official openai SDK', () => {
  const rig = gatewayRig(20);
  let server: GatewayRig['server'];
  let mocks: GatewayRig['mocks'];
  let client: OpenAI;
  beforeAll(() => ({ server, mocks, client } = rig));

  it('lists every configured model, demo ones included', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(expect.arrayContaining(['demo/fast', 'mockai/ok', 'mockant/ok']));
    const page = await client.models.list();
    expect(page.data.find((m) => m.id === 'demo/fast')).toMatchObject({ object: 'model', owned_by: 'demo' });
  });

  it('times each HTTP upstream stream for gateway-added latency (the per-read path keeps its metrics)', async () => {
    const count = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^tributary_gateway_added_latency_seconds_count\{model="mockai\/ok",provider="mockai"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    const stream = await client.chat.completions.create({ model: 'mockai/ok', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    for await (const _ of stream) {
      /* drain */
    }
    expect(await count()).toBe(before + 1);
  });

  it.each(['mockai/ok', 'mockant/ok'])('streams %s with usage in the last chunk', async (model) => {
    const stream = await client.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Where do rivers go?' },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(ANSWER);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === model && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({
      prompt_tokens: MOCK_INPUT_TOKENS,
      completion_tokens: ANSWER_PIECES.length,
      total_tokens: MOCK_INPUT_TOKENS + ANSWER_PIECES.length,
    });
    // The system prompt went to each dialect in its own place.
    const sent = (model.startsWith('mockai') ? mocks.openai : mocks.anthropic).exchanges.at(-1)!.body;
    if (model.startsWith('mockai')) expect(sent.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    else expect(sent.system).toBe('Be brief.');
  });

  it('streams a demo model; without include_usage there is no usage chunk', async () => {
    const expected = new DemoProvider({ speed: 1 }).answer('demo/fast', 'standard', [{ role: 'user', content: 'Hi there' }], 8192).text;
    const stream = await client.chat.completions.create({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi there' }], stream: true });
    let text = '';
    let usageSeen = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageSeen = true;
    }
    expect(text).toBe(expected);
    expect(usageSeen).toBe(false);
  });

  it('answers a non-streaming completion', async () => {
    const completion = await client.chat.completions.create({
      model: 'mockai/ok',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 50,
      temperature: 0.2,
    });
    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: 'mockai/ok',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: ANSWER } }],
      usage: { prompt_tokens: MOCK_INPUT_TOKENS, completion_tokens: ANSWER_PIECES.length },
    });
    expect(mocks.openai.exchanges.at(-1)!.body).toMatchObject({ max_tokens: 50, temperature: 0.2 });
  });

  it('upstream errors reach the SDK as APIError with the right status', async () => {
    const call = (model: string, stream: boolean) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], stream } as any);
    const rejection = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err as APIError;
      }
      throw new Error('expected an error');
    };
    const limited = await rejection(call('mockai/e429', true));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.status).toBe(429);
    expect(limited.headers?.get('retry-after')).toBe('7');
    expect(limited.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    const context = await rejection(call('mockant/context', false));
    expect(context).toBeInstanceOf(OpenAI.BadRequestError);
    expect((context.error as any).code).toBe('context_length');
    const auth = await rejection(call('mockai-badkey/ok', false));
    expect(auth.status).toBe(502);
    expect((auth.error as any).code).toBe('auth');
    const unknown = await rejection(call('nosuch/model', true));
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown.error as any).code).toBe('invalid_model');
  });

  it('an error after the first chunk arrives as an error event the SDK raises', async () => {
    const stream = await client.chat.completions.create({ model: 'mockai/reset', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    let text = '';
    let caught: unknown;
    try {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    } catch (err) {
      caught = err;
    }
    expect(text).toBe(ANSWER_PIECES.slice(0, 3).join(''));
    expect(caught).toBeInstanceOf(APIError);
    expect((caught as APIError).error).toMatchObject({ code: 'network' });
  });

  it('writes the chunks exactly as OpenAI does: role first, then content, finish, usage, [DONE]', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mockai/ok', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const frames = (await res.text()).split('\n\n').filter(Boolean);
    expect(frames.every((f) => f.startsWith('data: ') && !f.includes('\n'))).toBe(true);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)));
    const head = { id: chunks[0].id, object: 'chat.completion.chunk', created: chunks[0].created, model: 'mockai/ok', system_fingerprint: null };
    expect(chunks[0].id).toMatch(/^chatcmpl-/);
    const choice = (delta: object, finish: string | null) => ({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null });
    expect(chunks).toEqual([
      choice({ role: 'assistant', content: '' }, null),
      ...ANSWER_PIECES.map((text) => choice({ content: text }, null)),
      choice({}, 'stop'),
      {
        ...head,
        choices: [],
        usage: { prompt_tokens: MOCK_INPUT_TOKENS, completion_tokens: ANSWER_PIECES.length, total_tokens: MOCK_INPUT_TOKENS + ANSWER_PIECES.length },
      },
    ]);
  });

  it('rejects bodies it would not honour with an OpenAI-shaped 400', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }], audio: { voice: 'alloy' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'unknown_field', type: 'invalid_request_error', param: 'audio' } });
    const bad = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_json' } });
  });
});
