import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  cost: number;
  blockSize: number;
  parallelization: number;
}

const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  // maxmem must cover 128·N·r bytes, or Node refuses the larger costs.
  const options: ScryptOptions = { N: p.cost, r: p.blockSize, p: p.parallelization, maxmem: 256 * p.cost * p.blockSize + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can change later. */
export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return ['scrypt', params.cost, params.blockSize, params.parallelization, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time comparison; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), { cost: Number(n), blockSize: Number(r), parallelization: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}
