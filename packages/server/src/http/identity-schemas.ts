import { z } from 'zod';
import { tierLimits } from '../config/schema.js';
import { SCOPES } from '../identity/types.js';

export const credentialsBody = z.strictObject({
  email: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
  /** `cookie`: the tokens go in HttpOnly cookies (the web app), not in the body. */
  session: z.enum(['token', 'cookie']).default('token'),
});

export const refreshBody = z.strictObject({
  /** Omitted: the refresh cookie. */
  refreshToken: z.string().min(1).max(512).optional(),
  session: z.enum(['token', 'cookie']).default('token'),
});

export const createKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
  /** The key's own limits, on top of its user's (LiteLLM-style per-key budgets). */
  limits: tierLimits.optional(),
});

export const keyParams = z.strictObject({ id: z.string().min(1).max(100) });

export const usageQuery = z.strictObject({
  days: z.coerce.number().int().min(1).max(366).default(30),
  access_token: z.string().optional(),
});

export const limitsStatusQuery = z.strictObject({
  fingerprint: z.string().min(1).max(512).optional(),
});

export const auditQuery = z.strictObject({
  actor: z.string().max(200).optional(),
  action: z.string().max(100).optional(),
  outcome: z.enum(['ok', 'denied', 'failed']).optional(),
  since: z.iso
    .datetime()
    .transform((s) => new Date(s))
    .optional(),
  until: z.iso
    .datetime()
    .transform((s) => new Date(s))
    .optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const userParams = z.strictObject({ id: z.string().min(1).max(100) });

export const updateUserBody = z.strictObject({
  role: z.enum(['user', 'admin']).optional(),
  /** A tier of `identity.limits.tiers`, or null for the plain user limits. */
  tier: z.string().max(100).nullable().optional(),
});

export const connectionTokenBody = z.strictObject({
  channels: z.array(z.string().min(1).max(200)).max(100).optional(),
  ttlSeconds: z.number().int().min(10).max(86_400).default(3_600),
});
