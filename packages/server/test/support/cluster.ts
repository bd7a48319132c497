// @ts-expect-error: a plain ES module shared with the benchmarks and `npm run cluster`
import { startCluster } from '../../../../scripts/cluster.js';
import { dropSchema, randomSchema, TEST_DATABASE_URL } from './postgres.js';
import { PUBLISH_KEY, TOKEN_SECRET } from './realtime.js';
import { dropPrefix, randomPrefix, TEST_REDIS_URL } from './redis.js';
import { TEST_IDENTITY } from './server.js';

export interface ClusterNode {
  index: number;
  url: string;
  port: number;
  output: string;
  kill(): Promise<void>;
  stop(): Promise<unknown>;
  start(): Promise<ClusterNode>;
}

export interface TestCluster {
  nodes: ClusterNode[];
  url: string;
  keyPrefix: string;
  schema: string;
  close(): Promise<void>;
}

/**
 * `nodes` real `tributary serve` processes on the test Redis (a fresh key prefix) and
 * PostgreSQL (a fresh schema), with the realtime test secrets; closing drops both.
 */
export async function startTestCluster(opts: { nodes: number; config?: Record<string, any>; nginx?: boolean }): Promise<TestCluster> {
  const keyPrefix = randomPrefix();
  const schema = randomSchema();
  const { config = {} } = opts;
  let cluster: TestCluster;
  try {
    cluster = await startCluster({
      nodes: opts.nodes,
      redisUrl: TEST_REDIS_URL,
      databaseUrl: TEST_DATABASE_URL,
      keyPrefix,
      schema,
      nginx: opts.nginx ?? false,
      config: {
        ...config,
        realtime: { publishKey: PUBLISH_KEY, tokenSecret: TOKEN_SECRET, ...config.realtime },
        demo: { speed: 10, ...config.demo },
        identity: config.identity ?? TEST_IDENTITY,
      },
    });
  } catch (err) {
    await dropPrefix(keyPrefix);
    await dropSchema(schema);
    throw err;
  }
  const close = cluster.close.bind(cluster);
  cluster.close = async () => {
    await close();
    await dropPrefix(keyPrefix);
    await dropSchema(schema);
  };
  return cluster;
}
