import * as crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RealtimeAuth } from '../../src/realtime/auth.js';
import { PUBLISH_KEY, startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

// Records every constant-time comparison the server makes (the real one still runs).
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

/** The publish key is compared in constant time, over equal-length digests (never `===` on the key). */
describe('attack: timing the publish key', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRealtimeServer();
  });
  afterAll(() => server.close());

  const wrong = ['', 'x', PUBLISH_KEY.slice(0, -1), `${PUBLISH_KEY}x`, PUBLISH_KEY.replace(/.$/, '!'), 'a'.repeat(PUBLISH_KEY.length), 'a'.repeat(4_096)];

  it('every wrong key → 401 unauthorized; the right one publishes', async () => {
    const post = (authorization: string) =>
      fetch(`${server.url}/v1/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: authorization },
        body: JSON.stringify({ channel: 'public:k', data: 1 }),
      });
    for (const key of wrong) {
      const res = await post(`Bearer ${key}`);
      expect({ key, status: res.status, code: (await res.json()).code }).toEqual({ key, status: 401, code: 'unauthorized' });
    }
    expect((await post(PUBLISH_KEY)).status).toBe(401); // no scheme
    expect((await post(`Bearer ${PUBLISH_KEY}`)).status).toBe(200);
  });

  it('each check is one timingSafeEqual over two 32-byte digests, whatever the length of the key sent', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    const auth = new RealtimeAuth({ publishKey: PUBLISH_KEY, tokenSecret: undefined, anonymousPublic: true });
    for (const key of [...wrong.filter(Boolean), PUBLISH_KEY]) {
      spy.mockClear();
      try {
        auth.authorizePublish(`Bearer ${key}`);
      } catch {
        /* wrong keys throw */
      }
      expect(spy).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
      expect([a.length, b.length]).toEqual([32, 32]);
    }
  });
});
