/**
 * The one outbound HTTP client of the provider adapters (key checks of every provider,
 * cloud token exchanges), following PROVIDERS.md:
 *
 *   const r = await send(ctx, url, { method: 'POST', headers: { … }, body: '…' });
 *   if (r.kind === 'failure') return failed('AWS STS in us-east-1', r.reason);
 *   r.status; r.headers; r.text; r.json  // json: the parsed body, undefined when not JSON
 *
 * - any method, headers and string body; credentials travel in headers or the body,
 *   never in the URL;
 * - every call has the configured timeout (`ctx.timeoutMs`, NEO_PROVIDER_TIMEOUT_MS) and
 *   stops early when the whole check's deadline (`ctx.signal`) fires;
 * - redirects are never followed (their target is never contacted);
 * - the body is read up to MAX_BODY_BYTES;
 * - `send` never throws: a call that got no usable answer is a `failure` with one reason
 *   of CallFailure, and `failed(what, reason)` is its `unavailable` check result. `dns`
 *   (the host name did not resolve) is told apart from other network errors: for a
 *   user-typed endpoint it means a wrong host, for a known cloud region that this server
 *   cannot resolve names (egress rules, DNS outage).
 *
 * Nothing here logs, and a provider's raw body never leaves the adapter (OpenAI's 401
 * body echoes part of the key): adapters turn statuses and error codes into their own
 * plain-language messages, with the `say` phrases where they fit.
 */
import type { CheckContext, CheckResult } from './types.ts';

/** Largest answer read (model listings are far below this). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Why a call got no usable answer. */
export type CallFailure = 'timeout' | 'dns' | 'network' | 'redirect' | 'too_large';

export interface Answer {
  kind: 'response';
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export type Sent = Answer | { kind: 'failure'; reason: CallFailure };

export interface OutboundRequest {
  /** GET when absent. */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export type OutboundContext = Pick<CheckContext, 'fetch' | 'timeoutMs' | 'signal'>;

/** Sends one request with `ctx.fetch`; never throws, never follows a redirect. */
export async function send(ctx: OutboundContext, url: string, request: OutboundRequest = {}): Promise<Sent> {
  // The per-call timeout and the whole check's deadline, whichever fires first.
  const signal = AbortSignal.any([AbortSignal.timeout(ctx.timeoutMs), ctx.signal]);
  try {
    const res = await ctx.fetch(url, { method: request.method ?? 'GET', headers: request.headers, body: request.body, redirect: 'manual', signal });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'failure', reason: 'redirect' };
    }
    const text = await readCapped(res);
    if (text === undefined) return { kind: 'failure', reason: 'too_large' };
    return { kind: 'response', status: res.status, headers: res.headers, text, json: parseJson(text) };
  } catch (err) {
    return { kind: 'failure', reason: failureReason(err, signal) };
  }
}

/** GET of a JSON API with the key-check headers (`accept`, `user-agent`) added to `headers`. */
export function getJson(ctx: OutboundContext, url: string, headers: Record<string, string>): Promise<Sent> {
  return send(ctx, url, { headers: { accept: 'application/json', 'user-agent': 'neo-byok-key-check/1', ...headers } });
}

function failureReason(err: unknown, signal: AbortSignal): CallFailure {
  if (signal.aborted) return 'timeout';
  const e = err as { name?: unknown; code?: unknown; cause?: { code?: unknown } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  return (e?.cause?.code ?? e?.code) === 'ENOTFOUND' ? 'dns' : 'network';
}

/** Reads a response body as text, or undefined past MAX_BODY_BYTES (the rest is cancelled). */
async function readCapped(res: Response): Promise<string | undefined> {
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

/** Whether a parsed body is a JSON object (not an array, not a scalar). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The answer's body when it is a JSON object, else undefined. */
export function jsonObject(answer: Answer): Record<string, unknown> | undefined {
  return isObject(answer.json) ? answer.json : undefined;
}

/** A property of a JSON object, or undefined. */
export function field(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
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

/** Pluralized model count for a check message. */
export function modelCount(n: number): string {
  return `${n} model${n === 1 ? '' : 's'}`;
}

/** Messages shared by the adapters; each names the provider (or the service called), none quotes it. */
export const say = {
  accepted: (name: string, models?: string[]) => (models ? `${name} accepted the key; ${modelCount(models.length)} available` : `${name} accepted the key`),
  rejected: (name: string) => `${name} rejected the key: it is invalid, revoked or mistyped`,
  restricted: (name: string) => `${name} accepted the key, but it lacks a permission this check needs (for example listing models); some requests may fail`,
  billing: (name: string) => `${name} accepted the key, but the account has no credit or quota left; requests will fail until billing is fixed`,
  rateLimited: (name: string) => `${name} rate-limited the check, so the key could not be verified; try again later`,
  unavailable: (name: string, status?: number) =>
    `${name} is unavailable${status ? ` (HTTP ${status})` : ''}, so the key could not be verified; try again later`,
  unexpected: (name: string, status: number) => `${name} gave an unexpected answer (HTTP ${status}), so the key could not be verified; try again later`,
  undocumented: (name: string) =>
    `${name} answered, but not with its documented JSON (a proxy or captive portal in the way?), so the key could not be verified; try again later`,
  failure: (what: string, reason: CallFailure) => {
    switch (reason) {
      case 'timeout':
        return `${what} did not answer in time, so the key could not be verified; try again later`;
      case 'redirect':
        return `${what} answered with a redirect, which is never followed, so the key could not be verified`;
      case 'too_large':
        return `${what} sent an answer too large to read, so the key could not be verified`;
      case 'dns':
        return `${what} could not be reached: its host name did not resolve, so this server may have no working outbound DNS or network access; try again later`;
      default:
        return `${what} could not be reached, so the key could not be verified; try again later`;
    }
  },
};

/** The `unavailable` result of a failed call to `what`. */
export function failed(what: string, reason: CallFailure): CheckResult {
  return { outcome: 'unavailable', message: say.failure(what, reason) };
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

/** Anything not otherwise understood: inconclusive, never a rejection. */
export function unexpected(name: string, status: number): CheckResult {
  return { outcome: 'unavailable', message: say.unexpected(name, status) };
}
