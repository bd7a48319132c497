import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Takes a response past Fastify (a stream writes it itself). The headers set on the reply so
 * far (security headers, CORS, …) would only have gone out with Fastify's own `writeHead`, so
 * they move to the raw response, where the stream's `writeHead` merges them: what every answer
 * carries is put on the reply once, and only streams pay for the move.
 */
export function hijack(reply: FastifyReply): ServerResponse {
  const headers = reply.getHeaders();
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) reply.raw.setHeader(name, value);
  }
  reply.hijack();
  return reply.raw;
}
