import { randomUUID } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): time-ordered, so ids sort by creation time and index inserts stay
 * local. Within one millisecond the random tail keeps ids unique but not ordered; the
 * audit trail orders by (created_at, id) and takes that into account.
 *
 * The 74 random bits come from `crypto.randomUUID()` (a v4 UUID: the same CSPRNG, drawn
 * from an entropy pool Node fills in batches), whose version nibble is replaced and whose
 * variant bits are already RFC 9562's; `randomBytes(16)` asked the CSPRNG for every id,
 * a measurable share of a BYOK write (docs/benchmarks.md, "The write path").
 */
export function uuidv7(now: number = Date.now()): string {
  const r = randomUUID(); // xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx
  const t = Math.trunc(now).toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(15, 18)}-${r.slice(19)}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
