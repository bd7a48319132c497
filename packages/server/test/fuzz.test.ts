import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { TributaryError, isErrorCode } from '../src/errors.js';
import { DEFAULT_JSON_LIMITS, checkJsonLimits, parseJson } from '../src/input/json.js';
import { anthropicDialect } from '../src/llm/anthropic-dialect.js';
import { openaiDialect } from '../src/llm/openai-dialect.js';
import { ModelError } from '../src/llm/provider.js';
import { UpstreamSseParser } from '../src/llm/upstream/sse-parser.js';
import { parseClientFrame } from '../src/realtime/native-protocol.js';
import { formatCursor, parseCursor } from '../src/realtime/positions.js';
import { formatEventId, parseEventId } from '../src/streams/event-id.js';
import { PUBLISH_KEY, startRealtimeServer } from './support/realtime.js';
import type { TestServer } from './support/server.js';

/**
 * Fuzzing of every parser that takes outside input, with fast-check as the engine: no crash,
 * no hang, a precise error. Bounded for CI; `FUZZ_RUNS=100000 npx vitest run …/fuzz.test.ts`
 * for a long run (the network fuzzers scale with FUZZ_RUNS / 10).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const NET_RUNS = Math.max(50, Math.floor(RUNS / 10));
const LIMIT_CODES = ['invalid_json', 'too_deep', 'string_too_long', 'too_many_elements'];

/** JSON-ish text: valid JSON, JSON cut or spliced, deep nesting, and plain noise. */
const jsonishText = fc.oneof(
  fc.json({ depthSize: 'large' }),
  fc.json().chain((j) => fc.tuple(fc.nat(j.length), fc.string()).map(([at, s]) => j.slice(0, at) + s + j.slice(at))),
  fc.integer({ min: 1, max: 3_000 }).chain((d) => fc.constantFrom('[', '{"a":', '[{"b":[').map((open) => open.repeat(d))),
  fc.string({ unit: 'binary' }),
  fc.stringMatching(/^[[\]{}",:\\0-9a-z ]{0,200}$/),
);

describe('fuzz: JSON input (bodies, WebSocket messages)', () => {
  it('parseJson answers a value or a coded 400, never another error (and never overflows)', () => {
    fc.assert(
      fc.property(jsonishText, (text) => {
        try {
          parseJson(text, DEFAULT_JSON_LIMITS);
        } catch (err) {
          expect(err).toBeInstanceOf(TributaryError);
          expect(LIMIT_CODES).toContain((err as TributaryError).code);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('whatever passes the limits is within them (depth measured on the parsed value)', () => {
    const depth = (v: unknown): number => {
      let max = 0;
      const stack: [unknown, number][] = [[v, 0]];
      while (stack.length) {
        const [x, d] = stack.pop()!;
        if (x && typeof x === 'object') {
          max = Math.max(max, d + 1);
          for (const c of Object.values(x)) stack.push([c, d + 1]);
        }
      }
      return max;
    };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 1, max: 12 }), (value, maxDepth) => {
        const text = JSON.stringify(value);
        const limits = { ...DEFAULT_JSON_LIMITS, maxDepth };
        let ok = true;
        try {
          checkJsonLimits(text, limits);
        } catch {
          ok = false;
        }
        expect(ok).toBe(depth(value) <= maxDepth);
      }),
      { numRuns: RUNS },
    );
  });

  it('native protocol: any text is a frame or a coded problem', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          jsonishText,
          fc
            .record(
              {
                type: fc.constantFrom('connect', 'subscribe', 'unsubscribe', 'ping', 'pong', 'x'),
                id: fc.anything(),
                channel: fc.anything(),
                position: fc.anything(),
                version: fc.anything(),
              },
              { requiredKeys: ['type'] },
            )
            .map((v) => JSON.stringify(v) ?? ''),
        ),
        (text) => {
          const parsed = parseClientFrame(text, DEFAULT_JSON_LIMITS);
          if (!parsed.ok) expect(isErrorCode(parsed.code)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: upstream SSE (OpenAI and Anthropic dialects)', () => {
  const sseish = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          'data: ',
          'event: ',
          'id: ',
          'retry: ',
          ': ',
          '\n',
          '\r\n',
          '\r',
          '\n\n',
          'data: [DONE]\n\n',
          '\uFEFF',
          'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
          'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}\n\n',
        ),
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.json(),
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join(''));

  it.each([
    ['openai', openaiDialect],
    ['anthropic', anthropicDialect],
  ] as const)('%s: arbitrary bytes in arbitrary pieces decode or fail as a ModelError', (_name, dialect) => {
    fc.assert(
      fc.property(sseish, fc.array(fc.nat(64), { maxLength: 20 }), fc.integer({ min: 16, max: 4_096 }), (stream, cuts, maxLine) => {
        const bytes = new TextEncoder().encode(stream);
        const parser = new UpstreamSseParser(maxLine);
        const decoder = dialect.decoder();
        try {
          let at = 0;
          const pieces = cuts.map((c) => bytes.subarray(at, (at += c))).concat([bytes.subarray(at)]);
          for (const piece of pieces) for (const event of parser.push(piece)) if (decoder.event(event) === 'done') return;
          for (const event of parser.end()) if (decoder.event(event) === 'done') return;
          decoder.finish();
        } catch (err) {
          expect(err).toBeInstanceOf(ModelError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: Last-Event-ID and cursors', () => {
  it('parseEventId: null or an id that formats back to the same text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.tuple(fc.string(), fc.stringMatching(/^[A-Za-z0-9_-]{0,33}$/), fc.oneof(fc.nat().map(String), fc.string())).map((p) => p.join(':')),
        ),
        (raw) => {
          const id = parseEventId(raw);
          if (id) expect(formatEventId(id.key, id.position)).toBe(raw);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseCursor: a cursor that formats back to the same text, or invalid_position', () => {
    const entry = fc.oneof(
      fc.constant('*'),
      fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/), fc.nat()).map(([e, s]) => `${e}:${s}`),
      fc.string(),
    );
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 8 }).map((a) => a.join(',')),
        fc.integer({ min: 1, max: 8 }),
        (raw, count) => {
          try {
            expect(formatCursor(parseCursor(raw, count))).toBe(raw);
          } catch (err) {
            expect((err as TributaryError).code).toBe('invalid_position');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: config files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-fuzz-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('any file loads or fails with one ConfigError naming the problem', () => {
    const file = join(dir, 'config.json');
    const configish = fc.oneof(
      jsonishText,
      fc
        .record(
          {
            server: fc.record({ port: fc.anything(), host: fc.anything() }, { requiredKeys: [] }),
            realtime: fc.dictionary(fc.string(), fc.jsonValue()),
            streams: fc.anything(),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(configish, (text) => {
        writeFileSync(file, text);
        try {
          loadConfig({ env: {}, file });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as Error).message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: Math.min(RUNS, 300) },
    );
  });
});

describe('fuzz: over the network (JSON bodies, both WebSocket protocols)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRealtimeServer({ log: { level: 'error' } });
  });
  afterAll(() => server.close());

  it('random bodies on JSON routes: a coded 2xx/4xx, never a 500', async () => {
    const routes = ['/v1/publish', '/compare', '/v1/comparisons', '/chat', '/v1/chat/completions'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        jsonishText,
        fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8'),
        async (path, body, type) => {
          const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': type, Authorization: `Bearer ${PUBLISH_KEY}` }, body });
          const json = await res.json().catch(() => ({}));
          expect(res.status, JSON.stringify(json)).toBeLessThan(500);
          if (res.status >= 400) expect(isErrorCode(json.code ?? json.error?.code)).toBe(true);
          else await cancelStreams(server.url);
        },
      ),
      { numRuns: NET_RUNS },
    );
  }, 120_000);

  it.each(['/v1/ws', '/v2/realtime/stream'])(
    '%s: random frames get error frames or protocol replies; the socket closes with a documented code or stays open',
    async (path) => {
      const CODES = [1000, 1003, 1005, 1009, 4000, 4001, 4002, 4029];
      await fc.assert(
        fc.asyncProperty(fc.array(jsonishText, { minLength: 1, maxLength: 5 }), async (frames) => {
          const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}`);
          const messages: any[] = [];
          const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
          ws.on('message', (d) => {
            for (const line of d.toString().split('\n')) messages.push(JSON.parse(line));
          });
          ws.on('error', () => undefined);
          await new Promise((r) => ws.once('open', r));
          for (const f of frames) ws.send(f);
          ws.send('{"type":"ping","id":"end"}');
          const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 2_000))]);
          if (code === -1) ws.close();
          else expect(CODES).toContain(code);
          for (const m of messages.filter((m) => m.type === 'error')) expect(isErrorCode(m.code)).toBe(true);
        }),
        { numRuns: NET_RUNS },
      );
    },
    120_000,
  );
});

/** A fuzzed body that started a comparison must not keep the demo models busy for the next case. */
async function cancelStreams(url: string): Promise<void> {
  const list = await (await fetch(`${url}/v1/comparisons?limit=5`)).json();
  for (const c of list.comparisons ?? []) if (c.status === 'running') await fetch(`${url}/v1/comparisons/${c.id}`, { method: 'DELETE' });
}
