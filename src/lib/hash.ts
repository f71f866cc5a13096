import { hash, timingSafeEqual } from 'node:crypto';

/** SHA-256 in hex (one-shot `crypto.hash`: no Hash object per call; API keys are hashed per request). */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/** Constant-time string comparison (compares SHA-256 digests so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  const da = hash('sha256', a, 'buffer');
  const db = hash('sha256', b, 'buffer');
  return timingSafeEqual(da, db);
}
