import { describe, expect, it } from 'vitest';
import { anthropicDialect } from '../src/llm/anthropic-dialect.js';
import { openaiDialect } from '../src/llm/openai-dialect.js';
import { ModelError, type GenerationChunk } from '../src/llm/provider.js';
import { mulberry32 } from '../src/llm/demo-text.js';
import type { Dialect } from '../src/llm/upstream/dialect.js';
import { UpstreamSseParser } from '../src/llm/upstream/sse-parser.js';
import { ANSWER_PIECES, anthropicFrames, openaiFrames } from './support/wire-formats.js';

const ANSWER = ANSWER_PIECES.join('');
const encoder = new TextEncoder();

/** Feeds `bytes` in the given pieces through parser and decoder, as HttpProvider does. */
function decode(dialect: Dialect, pieces: Uint8Array[]): { text: string; reasoning: string; finish?: GenerationChunk } {
  const parser = new UpstreamSseParser(64 * 1024);
  const decoder = dialect.decoder();
  let text = '';
  let reasoning = '';
  const take = (events: ReturnType<UpstreamSseParser['push']>): boolean => {
    for (const event of events) {
      const chunks = decoder.event(event);
      if (chunks === 'done') return true;
      for (const c of chunks) {
        if (c.type === 'delta') text += c.text;
        if (c.type === 'reasoning') reasoning += c.text;
      }
    }
    return false;
  };
  let done = false;
  for (const piece of pieces) if (!done) done = take(parser.push(piece));
  if (!done) take(parser.end());
  return { text, reasoning, finish: decoder.finish() };
}

/** Splits bytes at random points (including inside multi-byte characters and CRLF pairs). */
function randomSplit(bytes: Uint8Array, rng: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const size = rng() < 0.3 ? 1 + Math.floor(rng() * 3) : 1 + Math.floor(rng() * 200);
    out.push(bytes.subarray(i, i + size));
    i += size;
  }
  return out;
}

/** The same stream with CRLF line ends, comments and a payload spread over two data lines. */
function variants(stream: string): Record<string, string> {
  return {
    lf: stream,
    crlf: stream.replaceAll('\n', '\r\n'),
    cr: stream.replaceAll('\n', '\r'),
    comments: `: OPENROUTER PROCESSING\n\n${stream.replaceAll('\n\n', '\n\n: keep-alive\n\n')}`,
    multiline: stream.replace(/data: (\{.*?),("choices")/g, 'data: $1,\ndata: $2'),
    bom: `\uFEFF${stream}`,
  };
}

const RECORDED: Record<string, { dialect: Dialect; stream: string; reasoning: string }> = {
  openai: {
    dialect: openaiDialect,
    stream: openaiFrames('gpt-4o-mini', ANSWER_PIECES, { includeUsage: true, reasoning: ['Think', 'ing…'] }).join(''),
    reasoning: 'Thinking…',
  },
  anthropic: {
    dialect: anthropicDialect,
    stream: anthropicFrames('claude-sonnet-4-5', ANSWER_PIECES, { thinking: ['Hmm', ' — ok'] }).join(''),
    reasoning: 'Hmm — ok',
  },
};

describe('upstream SSE parser, fuzzed', () => {
  for (const [name, recorded] of Object.entries(RECORDED)) {
    for (const [variant, stream] of Object.entries(variants(recorded.stream))) {
      it(`${name} (${variant}): any chunk split gives the same text, reasoning and usage`, () => {
        const bytes = encoder.encode(stream);
        const whole = decode(recorded.dialect, [bytes]);
        expect(whole.text).toBe(ANSWER);
        expect(whole.reasoning).toBe(recorded.reasoning);
        expect(whole.finish).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { outputTokens: ANSWER_PIECES.length } });
        const rng = mulberry32(name.length * 1000 + variant.length);
        for (let round = 0; round < 300; round++) {
          expect(decode(recorded.dialect, randomSplit(bytes, rng))).toEqual(whole);
        }
        // Byte by byte, the worst case for split CRLF and UTF-8.
        expect(
          decode(
            recorded.dialect,
            [...bytes].map((b) => Uint8Array.of(b)),
          ),
        ).toEqual(whole);
      });
    }
  }

  it('a stream cut anywhere is a classified error or a whole answer, never anything else', () => {
    for (const { dialect, stream } of Object.values(RECORDED)) {
      const bytes = encoder.encode(stream);
      for (let cut = 0; cut < bytes.length; cut += 7) {
        try {
          const r = decode(dialect, [bytes.subarray(0, cut)]);
          expect(r.text).toBe(ANSWER); // only the end markers can be missing… and then finish() threw
        } catch (err) {
          expect(err).toBeInstanceOf(ModelError);
          expect((err as ModelError).code).toBe('upstream_error');
        }
      }
    }
  });

  it('random garbage never crashes or hangs the parser: at most a classified ModelError', () => {
    const rng = mulberry32(42);
    const alphabet = ['data: ', 'event: ', ':', '\n', '\r', '\r\n', '{', '}', '"', '[DONE]', 'choices', 'error', '\uFEFF', 'é', '🌊', ' ', 'x'];
    for (let round = 0; round < 2_000; round++) {
      const raw =
        rng() < 0.5
          ? Uint8Array.from({ length: Math.floor(rng() * 400) }, () => Math.floor(rng() * 256))
          : encoder.encode(Array.from({ length: Math.floor(rng() * 120) }, () => alphabet[Math.floor(rng() * alphabet.length)]).join(''));
      for (const dialect of [openaiDialect, anthropicDialect]) {
        try {
          decode(dialect, randomSplit(raw, rng));
        } catch (err) {
          expect(err).toBeInstanceOf(ModelError);
        }
      }
    }
  });

  it('bytes split anywhere, invalid UTF-8 included, read as TextDecoder reads the whole stream', () => {
    const rng = mulberry32(11);
    for (let round = 0; round < 200; round++) {
      const soup: number[] = [];
      for (let i = 0; i < 60; i++) {
        const r = rng();
        // ASCII, continuation bytes, lead bytes and 🌊 / é, so that pieces end on every kind of byte.
        if (r < 0.4) soup.push(0x61 + Math.floor(rng() * 26));
        else if (r < 0.6) soup.push(0x80 + Math.floor(rng() * 64));
        else if (r < 0.75) soup.push(0xc0 + Math.floor(rng() * 64));
        else if (r < 0.9) soup.push(0xf0, 0x9f, 0x8c, 0x8a);
        else soup.push(0xc3, 0xa9);
      }
      const bytes = new Uint8Array([
        ...(round % 2 ? [0xef, 0xbb, 0xbf] : []),
        ...(round % 4 === 1 ? [0xef, 0xbb, 0xbf] : []),
        ...encoder.encode('data: '),
        ...soup,
        ...encoder.encode('\n\ndata: z\n\n'),
      ]);
      const whole = new UpstreamSseParser().push(new TextDecoder('utf-8').decode(bytes));
      const parser = new UpstreamSseParser();
      const split = randomSplit(bytes, rng).flatMap((piece) => parser.push(round % 3 ? Buffer.from(piece) : piece));
      expect([...split, ...parser.end()]).toEqual(whole);
    }
  });

  it('a line longer than the limit is an upstream_error, not unbounded memory', () => {
    const parser = new UpstreamSseParser(1_000);
    expect(() => {
      for (let i = 0; i < 20; i++) parser.push(`data: ${'x'.repeat(100)}`);
    }).toThrow(ModelError);
  });
});
