import { describe, expect, it } from 'vitest';
import { openaiDialect } from '../src/llm/openai-dialect.js';
import type { GenerationChunk } from '../src/llm/provider.js';

/** What the decoder makes of one event, as plain objects (a kept JSON literal must decode to the same text). */
function decode(data: string): unknown {
  const chunks = openaiDialect.decoder().event({ event: 'message', data }) as GenerationChunk[];
  return chunks.map((c) => (c.type === 'delta' ? { type: c.type, text: c.text, ...(c.logprobs ? { logprobs: c.logprobs } : {}) } : { ...c }));
}

const head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":';
const choice = (delta: string, rest = '"logprobs":null,"finish_reason":null') => `${head}[{"index":0,"delta":${delta},${rest}}]`;

describe('OpenAI stream decoder: the text-only fast path agrees with the full parse', () => {
  it.each([
    ['plain', choice('{"content":"Hello"}') + '}'],
    ['usage null and extra flat fields after', choice('{"content":"Hi"}') + ',"usage":null,"obfuscation":"x1"}'],
    ['escaped quotes and backslashes', choice(String.raw`{"content":"say \"hi\" \\ \\\" end"}`) + '}'],
    ['unicode escapes and raw UTF-8', choice(String.raw`{"content":"caf\u00e9 naïve 🌊 \ud83c\udf0a"}`) + '}'],
    ['braces and brackets inside the text', choice('{"content":"{[x]}"}') + '}'],
  ])('%s', (_, data) => {
    const [chunk] = openaiDialect.decoder().event({ event: 'message', data }) as GenerationChunk[];
    expect(chunk).toMatchObject({ type: 'delta', json: expect.any(String) });
    const full = JSON.parse(data).choices[0].delta.content;
    expect((chunk as { text: string }).text).toBe(full);
    expect(JSON.parse((chunk as { json: string }).json)).toBe(full);
  });

  it.each([
    ['usage object in the same chunk', choice('{"content":"Hi"}') + ',"usage":{"prompt_tokens":1,"completion_tokens":1}}'],
    ['a finish reason', choice('{"content":"Hi"}', '"logprobs":null,"finish_reason":"stop"') + '}'],
    ['logprobs', choice('{"content":"Hi"}', '"logprobs":{"content":[{"token":"Hi","logprob":-1,"bytes":null,"top_logprobs":[]}]},"finish_reason":null') + '}'],
    ['a second field in the delta', choice('{"content":"Hi","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}') + '}'],
  ])('takes the full parse for %s', (_, data) => {
    const [chunk] = openaiDialect.decoder().event({ event: 'message', data }) as GenerationChunk[];
    expect(chunk).toMatchObject({ type: 'delta', text: 'Hi' });
    expect((chunk as { json?: string }).json).toBeUndefined();
  });

  it('the opening role chunk carries nothing, by the fast path as by the full parse; anything more takes the full parse', () => {
    const role = '{"role":"assistant","content":""}';
    expect(decode(choice(role) + '}')).toEqual([]);
    expect(decode(choice(role) + ',"usage":null,"obfuscation":"x1"}')).toEqual([]);
    const withUsage = openaiDialect.decoder();
    expect(withUsage.event({ event: 'message', data: choice(role) + ',"usage":{"prompt_tokens":3,"completion_tokens":4}}' })).toEqual([]);
    const finished = openaiDialect.decoder();
    expect(finished.event({ event: 'message', data: choice(role, '"logprobs":null,"finish_reason":"length"') + '}' })).toEqual([]);
    expect(() => withUsage.finish()).toThrow(/before the answer finished/);
    expect(finished.finish()).toMatchObject({ finishReason: 'length' });
    withUsage.event({ event: 'message', data: choice('{}', '"logprobs":null,"finish_reason":"stop"') + '}' });
    expect(withUsage.finish()).toEqual({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 4 } });
    expect(decode(choice('{"role":"assistant","content":"Hi"}') + '}')).toEqual([{ type: 'delta', text: 'Hi' }]);
  });

  it('refuses a malformed literal as the full parse does', () => {
    expect(() => decode(choice('{"content":"bad \\x"}') + '}')).toThrow(/malformed/);
    expect(() => decode(choice('{"content":"raw\ttab"}') + '}')).toThrow(/malformed/);
    expect(decode(choice('{"content":""}') + '}')).toEqual([]);
  });
});
