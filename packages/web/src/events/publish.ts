import { TributaryApiError } from '@tributary/client';

export interface PublishInput {
  channel: string;
  type: string;
  data: unknown;
}

export interface PublishResult {
  channel: string;
  epoch: string;
  seq: number;
  duplicate: boolean;
}

/** The JSON of the data field, or a readable reason why it is not JSON. */
export function parseData(text: string): { ok: true; data: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, data: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `Data is not JSON: ${(err as Error).message}` };
  }
}

/** POST /v1/publish with the publish key as Bearer; a refusal throws with the server's code. */
export async function publishEvent(key: string, input: PublishInput, fetchImpl: typeof fetch = fetch): Promise<PublishResult> {
  const res = await fetchImpl('/v1/publish', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ channel: input.channel, ...(input.type ? { type: input.type } : {}), data: input.data }),
  });
  const body: any = await res.json().catch(() => undefined);
  if (!res.ok) throw new TributaryApiError(res.status, body?.code ?? 'http_error', body?.message ?? `HTTP ${res.status}`, body);
  return body as PublishResult;
}
