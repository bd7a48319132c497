import { TributaryApiError } from '@tributary/client';

export interface User {
  id: string;
  email: string;
  role: 'user' | 'admin';
  tier: string | null;
  createdAt: string;
}
export interface LimitState {
  limit: number;
  used: number;
  remaining: number;
  resetAt: string;
}
export interface Limits {
  kind: 'anonymous' | 'user' | 'key';
  class: string;
  maxModels: number | null;
  limits: Partial<Record<'requests_per_minute' | 'responses_per_day' | 'extended_per_day' | 'tokens_per_day', LimitState>>;
}
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  key?: string;
}
export interface UsageLine {
  day: string;
  model: string;
  responses: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Same-origin JSON calls; the session travels in the HttpOnly cookies the server sets. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json: any = await res.json().catch(() => undefined);
  if (!res.ok) throw new TributaryApiError(res.status, json?.code ?? 'http_error', json?.message ?? `HTTP ${res.status}`, json);
  return json as T;
}
