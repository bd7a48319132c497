import { describe, expect, it } from 'vitest';
import { SseParser } from '../../client/src/sse-parser.js';
import { encodeSseComment, encodeSseFrame, encodeSseRetry } from '../src/transports/sse-frame.js';

describe('SSE framing', () => {
  it('frames data with line breaks as several data lines that parse back to the same text', () => {
    const data = 'line one\nline two\r\nline three\rend';
    const frame = encodeSseFrame({ id: 'k:e:1', event: 'model.delta', data });
    expect(frame).toBe('event: model.delta\nid: k:e:1\ndata: line one\ndata: line two\ndata: line three\ndata: end\n\n');
    const [message] = new SseParser().push(frame);
    expect(message).toEqual({ id: 'k:e:1', event: 'model.delta', data: 'line one\nline two\nline three\nend' });
  });

  it.each([['id', { id: 'a\nb', data: 'x' }], ['id', { id: 'a\rb', data: 'x' }], ['event', { event: 'x\ny', data: 'x' }], ['id', { id: 'a\0b', data: 'x' }]] as const)(
    'refuses an %s with a line break or NUL', (_f, frame) => {
      expect(() => encodeSseFrame(frame)).toThrow(TypeError);
    },
  );

  it('writes retry hints and comments the parser ignores', () => {
    const parser = new SseParser();
    expect(parser.push(encodeSseRetry(1500) + encodeSseComment('heartbeat'))).toEqual([]);
    expect(parser.retry).toBe(1500);
    expect(() => encodeSseComment('a\nb')).toThrow(TypeError);
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
      expect(got.map((m) => [m.id, m.event, m.data])).toEqual([['1', 'a', 'x\ny'], ['2', 'message', '{"k":"v"}']]);
    }
  });
});
