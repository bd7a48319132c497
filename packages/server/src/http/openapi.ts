import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { z } from 'zod';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

/**
 * OpenAPI from the routes' own zod schemas. A route declares its schemas once with `api()`;
 * the handler parses with the same objects (validate.ts), and the document is generated from them.
 * Fastify itself never validates them (the validator compiler skips zod), so the error codes and
 * the cost of a request stay what the handlers make them.
 */

type Tag = 'native' | 'seed' | 'openai' | 'realtime' | 'jobs' | 'identity' | 'ops' | 'meta';

/** How a route's errors are shaped: ours, ours plus FastAPI's `detail` (seed routes), or OpenAI's. */
type ErrorShape = 'native' | 'seed' | 'openai';

export interface RouteDoc {
  summary: string;
  tags: Tag[];
  description?: string;
  body?: z.ZodType;
  /** The fields beside a `file` part, when the route also takes multipart/form-data. */
  upload?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  /** Codes this route answers with besides the shared ones (request shape, unavailable, internal_error). */
  errors?: readonly ErrorCode[];
  errorShape?: ErrorShape;
  /** The success status and body type (default 200, JSON). */
  status?: number;
  produces?: 'application/json' | 'text/event-stream' | 'text/plain' | 'json-or-event-stream' | 'any';
}

/** Credentials: a session token or an API key; these are its failures. */
export const AUTH_ERRORS = ['authentication_required', 'token_expired', 'token_revoked', 'invalid_key', 'key_revoked', 'insufficient_scope'] as const;
/** Admin routes: any credential failure, or not an admin. */
export const ADMIN_ERRORS = [...AUTH_ERRORS, 'forbidden'] as const;
/** Routes that start model work: quotas, models and input limits. */
export const ADMISSION_ERRORS = [
  'rate_limited',
  'invalid_model',
  'ambiguous_model',
  'too_many_models',
  'input_too_long',
  'empty_prompt',
  'invalid_text',
] as const;

const BODY_ERRORS: ErrorCode[] = ['invalid_json', 'unsupported_media_type', 'body_too_large', 'too_deep', 'string_too_long', 'too_many_elements'];

interface OpenApiRouteConfig {
  errors: ErrorCode[];
  errorShape: ErrorShape;
  status: number;
  produces: NonNullable<RouteDoc['produces']>;
}
interface DocConfig {
  openapi: OpenApiRouteConfig;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by `api()`: what the generated document says of the route's responses. */
    openapi?: OpenApiRouteConfig;
  }
}

/** Route options carrying a route's schemas and its documentation. */
export function api(doc: RouteDoc): { schema: FastifySchema; config: DocConfig } {
  const schema: FastifySchema & Record<string, unknown> = { summary: doc.summary, tags: doc.tags };
  if (doc.description) schema.description = doc.description;
  if (doc.body) schema.body = doc.upload ? { content: { 'application/json': { schema: doc.body }, 'multipart/form-data': { schema: doc.upload } } } : doc.body;
  if (doc.query) schema.querystring = doc.query;
  if (doc.params) schema.params = doc.params;
  const errors = new Set<ErrorCode>(doc.errors ?? []);
  if (doc.body) for (const code of BODY_ERRORS) errors.add(code);
  if (doc.body || doc.query || doc.params) errors.add('invalid_field').add('unknown_field');
  errors.add('unavailable').add('internal_error');
  return {
    schema,
    config: {
      openapi: { errors: [...errors], errorShape: doc.errorShape ?? 'native', status: doc.status ?? 200, produces: doc.produces ?? 'application/json' },
    },
  };
}

function isZod(schema: unknown): schema is z.ZodType {
  return schema instanceof z.ZodType;
}

const jsonSchemas = new WeakMap<z.ZodType, Record<string, unknown>>();

/** What a client sends (`io: 'input'`: defaults make a field optional), as JSON Schema 2020-12 (OpenAPI 3.1's dialect). */
export function requestJsonSchema(schema: z.ZodType): Record<string, unknown> {
  let json = jsonSchemas.get(schema);
  if (!json) {
    const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    json = rest;
    jsonSchemas.set(schema, json);
  }
  return json;
}

/** A multipart body's schema: its fields plus the `file` part. */
function bodyJsonSchema(type: string, schema: z.ZodType): Record<string, unknown> {
  const json = requestJsonSchema(schema);
  if (type !== 'multipart/form-data') return json;
  const properties = {
    ...(json.properties as Record<string, unknown>),
    file: { type: 'string', format: 'binary', description: 'JSON Lines (.jsonl) or CSV (.csv)' },
  };
  return { ...json, properties, required: [...((json.required as string[] | undefined) ?? []), 'file'] };
}

function errorBodySchema(codes: ErrorCode[], shape: ErrorShape): Record<string, unknown> {
  const code = { type: 'string', enum: codes };
  if (shape === 'openai') {
    return {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['message', 'type'],
          properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code },
        },
      },
    };
  }
  const properties: Record<string, unknown> = { code, message: { type: 'string' } };
  if (shape === 'seed') properties.detail = { type: 'string', description: 'The message again, where FastAPI clients read it.' };
  return { type: 'object', required: ['code', 'message'], properties, additionalProperties: true };
}

const SUCCESS_CONTENT: Record<NonNullable<RouteDoc['produces']>, Record<string, unknown>> = {
  'application/json': { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
  'text/event-stream': { 'text/event-stream': { schema: { type: 'string' } } },
  'text/plain': { 'text/plain': { schema: { type: 'string' } } },
  'json-or-event-stream': {
    'application/json': { schema: { type: 'object', additionalProperties: true } },
    'text/event-stream': { schema: { type: 'string' } },
  },
  any: { '*/*': { schema: {} } },
};

/** Error responses grouped by status; each lists the catalogue codes it may carry. */
function responsesOf(doc: OpenApiRouteConfig): Record<string, unknown> {
  const responses: Record<string, unknown> = { [doc.status]: { description: 'Success', content: SUCCESS_CONTENT[doc.produces] } };
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of doc.errors) {
    const { status } = ERROR_CATALOGUE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[status] = {
      description: codes.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].message}`).join('\n\n'),
      content: { 'application/json': { schema: errorBodySchema(codes, doc.errorShape) } },
    };
  }
  return responses;
}

/** packages/server/package.json, seen from {src,dist}/http. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The WebSocket endpoints are upgrades of the HTTP server, not Fastify routes; documented by hand. */
const WEBSOCKET_PATHS = {
  '/v2/realtime/stream': {
    get: {
      tags: ['seed', 'realtime'],
      summary: 'Seed realtime WebSocket (upgrade)',
      description:
        'Send `{"services":[...],"version":1,"lastSeq":N}`; missed events are replayed, then `ack`, `ping` and `event` frames. ' +
        'A client outside the `realtime_ws` rollout is closed with code 4010 and falls back to SSE. See docs/realtime.md.',
      parameters: [{ name: 'access_token', in: 'query', required: false, schema: { type: 'string' } }],
      responses: { 101: { description: 'Switching Protocols (WebSocket)' }, 401: { description: '`invalid_token`' } },
    },
  },
};

/**
 * Installs the generator, `GET /openapi.json` and the docs page at `/docs` (swagger-ui, served
 * from npm, no CDN). Call before any route is registered: the generator collects routes as they are added.
 */
export async function installOpenApi(app: FastifyInstance): Promise<void> {
  // Zod schemas are documentation for Fastify; the handler validates them (parseInput). Anything else is a mistake.
  app.setValidatorCompiler(({ schema, method, url }) => {
    if (isZod(schema)) return undefined as never;
    throw new Error(`${method} ${url}: route schemas are zod objects (http/openapi.ts api())`);
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tributary API',
        version: VERSION,
        description: 'Native (`/v1`), seed-compatible and OpenAI-compatible routes. Every error body carries a `code` from the catalogue (docs/api.md).',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      tags: [
        { name: 'native', description: 'The native comparison API' },
        { name: 'seed', description: "Routes the replaced systems' clients speak, as they wrote them" },
        { name: 'openai', description: 'OpenAI-compatible gateway' },
        { name: 'realtime', description: 'Channels: publish, subscribe (SSE, long-poll, WebSocket)' },
        { name: 'jobs', description: 'Batch jobs with live progress' },
        { name: 'identity', description: 'Accounts, sessions, API keys, usage, privacy' },
        { name: 'ops', description: 'Metrics, alerts, feature flags' },
        { name: 'meta', description: 'Health, readiness, models' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session access token or an API key (`trb_…`).' } },
      },
    },
    transform: ({ schema, url, route }) => {
      const doc = (route.config as Partial<DocConfig> | undefined)?.openapi;
      if (!schema || !doc) return { schema, url };
      const out: Record<string, unknown> = { ...schema };
      for (const part of ['body', 'querystring', 'params'] as const) {
        const s = (schema as Record<string, unknown>)[part];
        if (isZod(s)) out[part] = requestJsonSchema(s);
      }
      const content = (schema.body as { content?: Record<string, { schema: z.ZodType }> } | undefined)?.content;
      if (content)
        out.body = { content: Object.fromEntries(Object.entries(content).map(([type, { schema: s }]) => [type, { schema: bodyJsonSchema(type, s) }])) };
      out.response = responsesOf(doc);
      return { schema: out as FastifySchema, url };
    },
    transformObject: (doc) =>
      'openapiObject' in doc ? { ...doc.openapiObject, paths: { ...doc.openapiObject.paths, ...WEBSOCKET_PATHS } } : doc.swaggerObject,
  });
  app.get('/openapi.json', { ...api({ summary: 'This document (OpenAPI 3.1)', tags: ['meta'] }) }, async () => app.swagger());
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, validatorUrl: null },
    // swagger-ui's own CSP, tightened: no `https:` sources and no upgrade (the server may be plain HTTP on a LAN);
    // its bundle injects <style> elements at run time, so styles (never scripts) may be inline on this page.
    staticCSP: true,
    transformStaticCSP: (header) =>
      header
        .replace(/ https:/g, '')
        .replace(/ validator\.swagger\.io/, '')
        .replace(/\s*upgrade-insecure-requests;?/, '')
        .replace(/style-src 'self'\s*;/, "style-src 'self' 'unsafe-inline';"),
  });
}
