import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';

/** Response headers a cross-origin page may read (the stream routes name their comparison in them). */
const EXPOSED = ['X-Comparison-Id', 'X-Conversation-Id', 'Retry-After'];

/**
 * Cross-origin access for the configured origins (none: same-origin only, no CORS headers).
 * The headers go on the reply; streams written past Fastify take them along (http/hijack.ts).
 */
export async function installCors(app: FastifyInstance, config: Config['server']['cors']): Promise<void> {
  if (config.origins.length === 0) return;
  await app.register(cors, {
    origin: config.origins.includes('*') ? '*' : config.origins,
    credentials: config.credentials,
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    exposedHeaders: EXPOSED,
    maxAge: config.maxAgeSeconds,
  });
}
