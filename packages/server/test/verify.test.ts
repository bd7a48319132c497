import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderText, verify, type Report } from '../../client/src/verify/index.js';
import { PUBLISH_KEY } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';

describe('tributary verify against a Tributary test instance', () => {
  let server: TestServer;
  let report: Report;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 4 }, realtime: { publishKey: PUBLISH_KEY, seedPingIntervalMs: 400 } });
    report = await verify({ baseUrl: server.url, publishKey: PUBLISH_KEY, profile: 'smoke' });
    console.log(renderText(report));
  }, 120_000);
  afterAll(async () => { await server?.close(); });

  it('every check passes', () => {
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  });
});
