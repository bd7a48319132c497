import { randomBytes } from 'node:crypto';

export interface SignedUp {
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  userId: string;
  auth: { Authorization: string };
}

/** Registers a fresh account over HTTP and returns its tokens. */
export async function signUp(url: string, email = `u${randomBytes(6).toString('hex')}@example.test`, password = 'correct horse battery'): Promise<SignedUp> {
  const res = await fetch(`${url}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { accessToken: string; refreshToken: string; user: { id: string } };
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${JSON.stringify(body)}`);
  return {
    email,
    password,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    userId: body.user.id,
    auth: { Authorization: `Bearer ${body.accessToken}` },
  };
}

/** Creates an API key for a signed-in user; returns the key (shown once) and its id. */
export async function createKey(url: string, user: SignedUp, scopes: string[] = ['compare', 'chat'], name = 'test'): Promise<{ id: string; key: string }> {
  const res = await fetch(`${url}/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...user.auth },
    body: JSON.stringify({ name, scopes }),
  });
  const body = (await res.json()) as { id: string; key: string };
  if (res.status !== 201) throw new Error(`create key answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}
