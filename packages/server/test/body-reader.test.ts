import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyReader } from '../src/llm/upstream/body-reader.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('BodyReader (an upstream body read in flowing mode)', () => {
  it('hands a waiting reader each chunk, then done at the end', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    const first = reader.next();
    body.write('a');
    expect(await first).toEqual({ done: false, value: Buffer.from('a') });
    const second = reader.next();
    body.end('b');
    expect((await second).value?.toString()).toBe('b');
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    expect(await reader.next()).toEqual({ done: true, value: undefined });
  });

  it('joins what arrived while the reader was busy into one buffer, in order', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    for (const part of ['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n']) body.write(part);
    await tick();
    expect((await reader.next()).value?.toString()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n');
  });

  it('pauses the body while many reads wait, and resumes once they are taken', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    for (let i = 0; i < 40; i++) body.write(`${i},`);
    await tick();
    expect(body.isPaused()).toBe(true);
    let text = (await reader.next()).value!.toString();
    expect(body.isPaused()).toBe(false);
    body.end();
    for (let r = await reader.next(); !r.done; r = await reader.next()) text += r.value.toString();
    expect(text).toBe(Array.from({ length: 40 }, (_, i) => `${i},`).join(''));
  });

  it('delivers what came before an error, then rejects with it', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    body.write('kept');
    await tick();
    body.destroy(new Error('socket reset'));
    await tick();
    expect((await reader.next()).value?.toString()).toBe('kept');
    await expect(reader.next()).rejects.toThrow('socket reset');
  });

  it('rejects a waiting reader when the body closes before its end (never hangs)', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    const waiting = reader.next();
    body.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('return() destroys the body and ends the reads', async () => {
    const body = new PassThrough();
    const reader = new BodyReader(body);
    const waiting = reader.next();
    await reader.return();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(body.destroyed).toBe(true);
  });
});
