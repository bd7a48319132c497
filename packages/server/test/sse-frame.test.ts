import { describe, expect, it } from 'vitest';
import { SseParser } from '../../client/src/sse-parser.js';
import { encodeSseComment, encodeSseFrame, encodeSsePosition, encodeSseRetry, withSseRetry } from '../src/transports/sse-frame.js';

describe('SSE framing', () => {
  it('frames data with line breaks as several data lines that parse back to the same text', () => {
    const data = 'line one\nline two\r\nline three\rend';
    const frame = encodeSseFrame({ id: 'k:e:1', event: 'model.delta', data });
    expect(frame).toBe('event: model.delta\nid: k:e:1\ndata: line one\ndata: line two\ndata: line three\ndata: end\n\n');
    const [message] = new SseParser().push(frame);
    expect(message).toEqual({ id: 'k:e:1', event: 'model.delta', data: 'line one\nline two\nline three\nend' });
  });

  it.each([
    ['id', { id: 'a\nb', data: 'x' }],
    ['id', { id: 'a\rb', data: 'x' }],
    ['event', { event: 'x\ny', data: 'x' }],
    ['id', { id: 'a\0b', data: 'x' }],
  ] as const)('refuses an %s with a line break or NUL', (_f, frame) => {
    expect(() => encodeSseFrame(frame)).toThrow(TypeError);
  });

  it('writes retry hints and comments the parser ignores', () => {
    const parser = new SseParser();
    expect(parser.push(encodeSseRetry(1500) + encodeSseComment('heartbeat'))).toEqual([]);
    expect(parser.retry).toBe(1500);
    expect(() => encodeSseComment('a\nb')).toThrow(TypeError);
  });

  it('seed framing: a data frame alone, then a position frame the parser takes the id from; retry added to the last frame', () => {
    const pair = encodeSseFrame({ data: '{"type":"chunk"}' }) + encodeSsePosition('comparison:c:e:7');
    const chunk = withSseRetry(pair, 250);
    expect(chunk).toBe('data: {"type":"chunk"}\n\nevent: position\nid: comparison:c:e:7\ndata: {"type":"position"}\nretry: 250\n\n');
    const parser = new SseParser();
    expect(parser.push(chunk)).toEqual([
      { id: undefined, event: 'message', data: '{"type":"chunk"}' },
      { id: 'comparison:c:e:7', event: 'position', data: '{"type":"position"}' },
    ]);
    expect(parser.lastEventId).toBe('comparison:c:e:7');
    expect(parser.retry).toBe(250);
    expect(withSseRetry(encodeSseComment('heartbeat'), 5)).toBe(': heartbeat\nretry: 5\n\n');
    expect(() => withSseRetry('data: x\n', 5)).toThrow(TypeError);
    // A lone data frame (a resumed seed stream's recovery answer) keeps its one line: the hint goes before it.
    expect(withSseRetry('data: {"type":"recovery"}\n\n', 5)).toBe('retry: 5\n\ndata: {"type":"recovery"}\n\n');
    expect(() => encodeSsePosition('a\nb')).toThrow(TypeError);
  });

  it('the parser survives any split of the byte stream', () => {
    const stream = [
      encodeSseRetry(10),
      encodeSseFrame({ id: '1', event: 'a', data: 'x\ny' }),
      encodeSseComment('hb'),
      encodeSseFrame({ id: '2', data: '{"k":"v"}' }).replace(/\n/g, '\r\n'),
    ].join('');
    for (let cut = 0; cut < stream.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut))];
      expect(got.map((m) => [m.id, m.event, m.data])).toEqual([
        ['1', 'a', 'x\ny'],
        ['2', 'message', '{"k":"v"}'],
      ]);
    }
  });
});
