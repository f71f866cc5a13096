/**
 * The rules of key health (docs/key-health.md), pure: which status a check outcome
 * gives, the hysteresis that keeps a single rejection from breaking a key, the schedule
 * of the next re-check and the expiry reminders. No I/O; times are epoch milliseconds
 * or RFC 3339 strings.
 */
import type { ExpiryNotice, KeyStatus, ProviderKeysTable } from '../../db/schema.ts';
import type { CheckOutcome, CheckResult } from '../../providers/types.ts';

/** The columns a key-health decision writes. */
export type HealthColumns = Partial<
  Pick<
    ProviderKeysTable,
    | 'last_checked_at'
    | 'last_check_outcome'
    | 'last_check_message'
    | 'first_rejected_at'
    | 'expires_at'
    | 'expiry_notice'
    | 'next_check_at'
    | 'check_requested_at'
    | 'lease_owner'
    | 'lease_until'
  >
> & { status?: KeyStatus; rejection_count?: number };

/** The status an outcome gives on its own; null for an inconclusive one (status kept). */
export function statusOf(outcome: CheckOutcome): KeyStatus | null {
  switch (outcome) {
    case 'accepted':
      return 'active';
    case 'restricted':
      return 'restricted';
    case 'billing':
      return 'billing';
    case 'rejected':
      return 'invalid';
    default:
      return null;
  }
}

/** The next scheduled re-check: `intervalMs` from now, ±10 % jitter so keys saved together spread out. */
export function nextCheckAt(nowMs: number, intervalMs: number, random: () => number = Math.random): string {
  const jitter = (random() * 0.2 - 0.1) * intervalMs;
  return new Date(nowMs + intervalMs + jitter).toISOString();
}

/**
 * The health columns of a save: the live check just ran, so the key starts a fresh
 * history (no rejection streak, no lease, no pending re-check). An inconclusive save
 * is `unverified`.
 */
export function healthOnSave(result: CheckResult, nowMs: number, intervalMs: number, random?: () => number): HealthColumns {
  const now = new Date(nowMs).toISOString();
  return {
    status: statusOf(result.outcome) ?? 'unverified',
    last_checked_at: now,
    last_check_outcome: result.outcome,
    last_check_message: result.message.slice(0, 500),
    first_rejected_at: null,
    rejection_count: 0,
    check_requested_at: null,
    next_check_at: nextCheckAt(nowMs, intervalMs, random),
    lease_owner: null,
    lease_until: null,
  };
}

export interface KeyHealthState {
  status: KeyStatus;
  first_rejected_at: string | null;
  rejection_count: number;
  expires_at: string | null;
}

export interface CheckDecision {
  columns: HealthColumns;
  from: KeyStatus;
  to: KeyStatus;
}

/**
 * Applies a re-check's result with hysteresis: a key becomes `invalid` only after two
 * consecutive rejections at least `invalidAfterMs` apart (first to latest of the
 * streak), or at once when the credential has expired for good; one acceptance (also
 * `restricted`/`billing`) ends the streak and sets that status; an inconclusive result
 * changes neither status nor streak. A key past its owner-set `expires_at` stays
 * `invalid` whatever the provider says.
 */
export function decideCheck(state: KeyHealthState, result: CheckResult, nowMs: number, invalidAfterMs: number): CheckDecision {
  const now = new Date(nowMs).toISOString();
  const columns: HealthColumns = {
    last_checked_at: now,
    last_check_outcome: result.outcome,
    last_check_message: result.message.slice(0, 500),
  };
  const from = state.status;
  let to = from;
  const pastExpiry = state.expires_at !== null && Date.parse(state.expires_at) <= nowMs;
  if (result.outcome === 'rejected') {
    const count = state.rejection_count + 1;
    const first = state.first_rejected_at ?? now;
    columns.rejection_count = count;
    columns.first_rejected_at = first;
    if (result.expired || (count >= 2 && nowMs - Date.parse(first) >= invalidAfterMs)) to = 'invalid';
  } else {
    const s = statusOf(result.outcome);
    if (s) {
      columns.rejection_count = 0;
      columns.first_rejected_at = null;
      to = s;
    }
  }
  if (pastExpiry) {
    to = 'invalid';
    columns.last_check_message = `the key's expiry date (${state.expires_at}) has passed; replace the key, or save it again with a later expires_at`;
  }
  columns.status = to;
  return { columns, from, to };
}

/** Reminder stages of an owner-set expiry date, in order. */
export const EXPIRY_STAGES: readonly { notice: ExpiryNotice; beforeMs: number }[] = [
  { notice: '7d', beforeMs: 7 * 24 * 3600_000 },
  { notice: '1d', beforeMs: 24 * 3600_000 },
  { notice: 'expired', beforeMs: 0 },
];

/** The reminder due now for a key (the latest stage reached and not yet written), or null. */
export function dueExpiryNotice(expiresAt: string | null, written: ExpiryNotice | null, nowMs: number): ExpiryNotice | null {
  if (expiresAt === null) return null;
  const at = Date.parse(expiresAt);
  const writtenRank = written === null ? -1 : EXPIRY_STAGES.findIndex((s) => s.notice === written);
  let due: number = -1;
  for (const [i, s] of EXPIRY_STAGES.entries()) if (nowMs >= at - s.beforeMs) due = i;
  return due > writtenRank ? EXPIRY_STAGES[due]!.notice : null;
}
