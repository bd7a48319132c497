import { z } from 'zod';
import { RESUME_QUERY } from './schemas.js';

/** Bodies and queries of /v1/jobs. Strict like every other: an unknown field is an error. */

const tier = z.enum(['brief', 'standard', 'extended']);
const jobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
const text = z.string().max(1_000_000);

const prompt = z
  .union([
    text,
    z.strictObject({
      id: z
        .union([z.string().max(200), z.number()])
        .transform(String)
        .optional(),
      prompt: text,
      system: text.optional(),
    }),
  ])
  .transform((p) => (typeof p === 'string' ? { prompt: p } : p));

export const jobParams = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().gt(0).max(1).optional(),
  stop: z.array(z.string().max(100)).max(8).optional(),
  maxOutputTokens: z.number().int().positive().optional(),
});

const models = z.array(z.string().min(1).max(200)).min(1, 'at least one model is required').max(1_000);

export const createJobBody = z.strictObject({
  name: z.string().max(200).optional(),
  prompts: z.array(prompt).min(1, 'at least one prompt is required').max(1_000_000),
  models,
  tier: tier.default('standard'),
  concurrency: z.number().int().min(1).max(1_000).optional(),
  params: jobParams.optional(),
});

/** The fields beside an uploaded file (form fields are strings; `models` comma-separated or repeated). */
export const uploadFields = z.strictObject({
  name: z.string().max(200).optional(),
  models: z
    .union([z.string(), z.array(z.string())])
    .transform((v) =>
      (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(models),
  tier: tier.default('standard'),
  concurrency: z.coerce.number().int().min(1).max(1_000).optional(),
  params: z
    .string()
    .max(10_000)
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return z.NEVER;
      }
    })
    .pipe(jobParams)
    .optional(),
});

export const jobIdParams = z.strictObject({ id: z.string().min(1).max(100) });

export const listJobsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  status: jobStatus.optional(),
  cursor: z.string().max(200).optional(),
});

export const itemsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().max(200).optional(),
  status: jobStatus.optional(),
  model: z.string().min(1).max(200).optional(),
});

export const resultsQuery = z.strictObject({ format: z.enum(['jsonl', 'csv']).default('jsonl') });

export const retryQuery = z.strictObject({ include: z.enum(['cancelled']).optional() });

export const jobStreamQuery = z.strictObject(RESUME_QUERY);
