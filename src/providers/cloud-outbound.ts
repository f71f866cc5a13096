/**
 * One outbound HTTP call of a cloud-provider check (google-vertex, amazon-bedrock,
 * azure-foundry): a timeout (per call, and the whole check's deadline `ctx.signal`),
 * redirects never followed, a capped body, and failures sorted into reasons instead of
 * thrown errors. Nothing here logs: request headers and
 * provider bodies can carry secrets.
 */
import { readCapped } from './http.ts';
import type { CheckContext } from './types.ts';

/** Largest provider answer read (model lists are well below this). */

export type FailureReason = 'timeout' | 'dns' | 'network' | 'redirect' | 'too_large';

export type Sent =
  | { kind: 'response'; status: number; headers: Headers; text: string }
  | { kind: 'error'; reason: FailureReason };

export type SentResponse = Extract<Sent, { kind: 'response' }>;

/**
 * Sends one request with `ctx.fetch`. A 3xx is reported as `redirect` and never
 * followed (its target is never contacted); DNS failures (`ENOTFOUND`) are told apart
 * from other network errors: for a user-typed Azure endpoint they mean "no such
 * endpoint", while for a known Bedrock or Vertex region (the only regions ever called)
 * they mean this server cannot resolve names (egress rules, DNS outage).
 */
export async function send(ctx: Pick<CheckContext, 'fetch' | 'timeoutMs' | 'signal'>, url: string, init: RequestInit): Promise<Sent> {
  // The per-call timeout and the whole check's deadline, whichever fires first.
  const signal = AbortSignal.any([AbortSignal.timeout(ctx.timeoutMs), ctx.signal]);
  try {
    const res = await ctx.fetch(url, { ...init, redirect: 'manual', signal });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: 'error', reason: 'redirect' };
    }
    const text = await readCapped(res);
    if (text === undefined) return { kind: 'error', reason: 'too_large' };
    return { kind: 'response', status: res.status, headers: res.headers, text };
  } catch (err) {
    return { kind: 'error', reason: failureReason(err, signal) };
  }
}

function failureReason(err: unknown, signal: AbortSignal): FailureReason {
  if (signal.aborted) return 'timeout';
  const e = err as { name?: unknown; code?: unknown; cause?: { code?: unknown } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  const code = e?.cause?.code ?? e?.code;
  if (code === 'ENOTFOUND') return 'dns';
  return 'network';
}

/** Parses a JSON object body; anything else is undefined. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `unavailable` message for a failed call to `what` (never the cause's text). */
export function failureMessage(reason: FailureReason, what: string): string {
  switch (reason) {
    case 'timeout':
      return `${what} did not answer in time; try again later`;
    case 'redirect':
    case 'too_large':
      return `${what} gave an unexpected answer; try again later`;
    case 'dns':
      return `${what} could not be reached: its host name did not resolve, so this server may have no working outbound DNS or network access; try again later`;
    default:
      return `${what} could not be reached; try again later`;
  }
}

/** Pluralized model count for a check message. */
export function modelCount(n: number): string {
  return `${n} model${n === 1 ? '' : 's'}`;
}
