/**
 * Outbound calls of the key-based provider checks (openai, anthropic, google, xai,
 * openrouter, vercel-gateway), following PROVIDERS.md:
 *
 * - the key travels in a header, never in the URL;
 * - every call has the configured timeout (NEO_PROVIDER_TIMEOUT_MS, 8 s by default), and
 *   stops early when the whole check's deadline (`ctx.signal`) fires;
 * - redirects are never followed (a 3xx is an unexpected answer);
 * - answers are read up to a size cap and parsed here; nothing in this module logs, and
 *   a provider's raw body never leaves it (OpenAI's 401 body echoes part of the key):
 *   adapters turn statuses and error codes into their own plain-language messages.
 */
import type { CheckContext, CheckResult } from './types.ts';

/** Largest answer read (model listings are far below this). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export type CallFailure = 'timeout' | 'network' | 'redirect' | 'too_large';

export type CallResult =
  | { kind: 'response'; status: number; json: unknown }
  | { kind: 'failure'; reason: CallFailure };

/** GET `url` with `headers`; never throws, never follows a redirect. */
export async function getJson(
  ctx: Pick<CheckContext, 'fetch' | 'timeoutMs' | 'signal'>,
  url: string,
  headers: Record<string, string>,
): Promise<CallResult> {
  // The per-call timeout and the whole check's deadline, whichever fires first.
  const signal = AbortSignal.any([AbortSignal.timeout(ctx.timeoutMs), ctx.signal]);
  try {
    const res = await ctx.fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'neo-byok-key-check/1', ...headers },
      redirect: 'manual',
      signal,
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'failure', reason: 'redirect' };
    }
    const text = await readCapped(res);
    if (text === undefined) return { kind: 'failure', reason: 'too_large' };
    return { kind: 'response', status: res.status, json: parseJson(text) };
  } catch (err) {
    if (signal.aborted) return { kind: 'failure', reason: 'timeout' };
    const name = (err as { name?: unknown } | null)?.name;
    return { kind: 'failure', reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network' };
  }
}

/** Reads a response body as text, or undefined past MAX_BODY_BYTES (the rest is cancelled). */
export async function readCapped(res: Response): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A property of a JSON object, or undefined. */
export function field(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const p of path) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** A string property, or ''. */
export function str(v: unknown, ...path: string[]): string {
  const f = field(v, ...path);
  return typeof f === 'string' ? f : '';
}

/** The `id`s of `{ data: [{ id }] }` (OpenAI-style listings). */
export function dataIds(json: unknown): string[] | undefined {
  const data = field(json, 'data');
  if (!Array.isArray(data)) return undefined;
  return data.map((m) => field(m, 'id')).filter((id): id is string => typeof id === 'string' && id.length > 0);
}

/** Messages shared by the adapters; each names the provider, none quotes it. */
export const say = {
  accepted: (name: string, models?: string[]) =>
    models ? `${name} accepted the key; ${models.length} model${models.length === 1 ? '' : 's'} available` : `${name} accepted the key`,
  rejected: (name: string) => `${name} rejected the key: it is invalid, revoked or mistyped`,
  restricted: (name: string) => `${name} accepted the key, but it lacks a permission this check needs (for example listing models); some requests may fail`,
  billing: (name: string) => `${name} accepted the key, but the account has no credit or quota left; requests will fail until billing is fixed`,
  rateLimited: (name: string) => `${name} rate-limited the check, so the key could not be verified; try again later`,
  unavailable: (name: string, status?: number) =>
    `${name} is unavailable${status ? ` (HTTP ${status})` : ''}, so the key could not be verified; try again later`,
  unexpected: (name: string, status: number) => `${name} gave an unexpected answer (HTTP ${status}), so the key could not be verified; try again later`,
  undocumented: (name: string) =>
    `${name} answered, but not with its documented JSON (a proxy or captive portal in the way?), so the key could not be verified; try again later`,
};

/** The `unavailable` result of a failed call. */
export function failed(name: string, reason: CallFailure, timeoutMs: number): CheckResult {
  switch (reason) {
    case 'timeout':
      return { outcome: 'unavailable', message: `${name} did not answer within ${Math.round(timeoutMs / 100) / 10} s, so the key could not be verified; try again later` };
    case 'redirect':
      return { outcome: 'unavailable', message: `${name} answered with a redirect, which is never followed, so the key could not be verified` };
    case 'too_large':
      return { outcome: 'unavailable', message: `${name} sent an answer too large to read, so the key could not be verified` };
    default:
      return { outcome: 'unavailable', message: `${name} could not be reached, so the key could not be verified; try again later` };
  }
}

/** Outcomes every provider shares: 429 → rate_limited, 5xx → unavailable. */
export function commonOutcome(name: string, status: number): CheckResult | undefined {
  if (status === 429) return { outcome: 'rate_limited', message: say.rateLimited(name) };
  if (status >= 500) return { outcome: 'unavailable', message: say.unavailable(name, status) };
  return undefined;
}

/**
 * A 200 whose body is not the JSON the provider documents proves nothing (PROVIDERS.md
 * rule 0): inconclusive, saved unverified.
 */
export function undocumented(name: string): CheckResult {
  return { outcome: 'unavailable', message: say.undocumented(name) };
}

/** Whether a parsed body is a JSON object (not an array, not a scalar). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Anything not otherwise understood: inconclusive, never a rejection. */
export function unexpected(name: string, status: number): CheckResult {
  return { outcome: 'unavailable', message: say.unexpected(name, status) };
}
