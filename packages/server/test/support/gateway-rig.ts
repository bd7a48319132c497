import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { createKey, signUp } from './identity.js';
import { startMocks } from './mock-providers.js';
import { startServer, type TestServer } from './server.js';

export interface GatewayRig {
  server: TestServer;
  mocks: Awaited<ReturnType<typeof startMocks>>;
  /** The official SDK pointed at the server's /v1 with a user's `chat` key, no retries. */
  client: OpenAI;
}

/** For a describe block: mock OpenAI and Anthropic upstreams and a server using them, started once. */
export function gatewayRig(demoSpeed: number): GatewayRig {
  const rig = {} as GatewayRig;
  beforeAll(async () => {
    rig.mocks = await startMocks();
    rig.server = await startServer({ providers: rig.mocks.config, demo: { speed: demoSpeed } });
    // A presented credential must be valid (identity): the SDK authenticates with a real key.
    const { key } = await createKey(rig.server.url, await signUp(rig.server.url), ['chat']);
    rig.client = new OpenAI({ baseURL: `${rig.server.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await rig.server?.close();
    await rig.mocks?.close();
  });
  return rig;
}
