import { z } from 'zod';

const identityList = z.array(z.string().min(1).max(200)).max(1_000);

/** `PUT /v1/admin/flags/{name}`: the whole switch and rollout; omitted lists are kept. */
export const flagUpdateBody = z.strictObject({
  enabled: z.boolean(),
  rollout: z.number().min(0).max(100),
  allow: identityList.optional(),
  deny: identityList.optional(),
});

export const flagParams = z.strictObject({ name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/) });

/** `POST /v1/admin/verify`: the smoke profile, or only some of its checks. */
export const verifyBody = z.strictObject({
  checks: z
    .array(z.string().regex(/^[a-z][a-z0-9-]{0,40}$/))
    .min(1)
    .max(50)
    .optional(),
});
