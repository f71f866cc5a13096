/**
 * Key health (issue 16, docs/key-health.md): runtime reports, re-checks with
 * hysteresis, expiry reminders, and the events they write.
 *
 * A report that asks for a re-check only makes the key due (next_check_at = now) and
 * wakes the scheduler; every re-check, reported or scheduled, runs through `runDue`,
 * which claims due keys under a database lease, so with several instances each key is
 * checked by exactly one of them. All timing comes from the injected clock.
 */
import { randomUUID } from 'node:crypto';
import type { KeyHealthConfig } from '../../config/index.ts';
import { DecryptionError } from '../../crypto/vault.ts';
import type { Db, Dialect } from '../../db/index.ts';
import { nowIso, withTransaction } from '../../db/index.ts';
import { AppError, notFound } from '../../errors/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import type { KeyStatus } from '../../db/schema.ts';
import type { CacheBus } from '../../lib/bus.ts';
import type { Metrics } from '../../lib/metrics.ts';
import type { CheckResult, ProviderName } from '../../providers/types.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import type { ProviderKeyView } from '../byok/byok.service.ts';
import { KeyHealthRepo, type HealthEvent, type KeyHealthRow } from './keyhealth.repo.ts';
import { decideCheck, dueExpiryNotice, nextCheckAt, type HealthColumns } from './keyhealth.rules.ts';

export const REPORT_OUTCOMES = ['ok', 'auth_failed', 'permission_denied', 'quota_exhausted', 'rate_limited', 'provider_error'] as const;
export type ReportOutcome = (typeof REPORT_OUTCOMES)[number];

/** Outcomes that make the key due for a re-check with the provider. */
const TRIGGERS: ReadonlySet<ReportOutcome> = new Set(['auth_failed', 'permission_denied', 'quota_exhausted']);

export interface Report {
  credential_id: string;
  credential_version: number;
  outcome: ReportOutcome;
  status_code?: number;
  at?: string;
  /** Optional: the owner resolve answered; a report naming another owner is ignored. */
  resource_type?: 'user' | 'team';
  resource_id?: string;
}

/** At most one reported re-check per key per this window. */
export const RECHECK_DEDUP_MS = 60_000;
/** How long a claim holds a key: longer than any check (MAX_CHECK_DEADLINE_MS is 20 s). */
export const LEASE_MS = 60_000;

export interface KeyHealthLogger {
  info(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

export interface KeyHealthServiceDeps {
  db: Db;
  dialect: Dialect;
  bus: CacheBus;
  config: KeyHealthConfig;
  /** Decrypts a stored secret (the vault). */
  decrypt(owner: Owner, provider: ProviderName, ciphertext: string, location: string | null): Promise<string>;
  /** Shape check and live check of a credential (ByokService.checkCredential). */
  check(provider: ProviderName, apiKey: string, location: string | null, owner: Owner): Promise<{ result: CheckResult }>;
  /** Provider checks per owner per minute (the provider-call rate limit). */
  providerCallsPerMinute: number;
  clock?: () => number;
  random?: () => number;
  metrics?: Metrics;
  log?: KeyHealthLogger;
  /** This instance's name in leases (random when not given). */
  instanceId?: string;
  /** The owner's key for a provider as GET /byok/providers shows it (ByokService.keyView). */
  keyView?(owner: Owner, provider: ProviderName): Promise<ProviderKeyView | undefined>;
}

export class KeyHealthService {
  readonly repo: KeyHealthRepo;
  readonly instanceId: string;
  private readonly clock: () => number;
  private readonly random: () => number;
  private lastIdMs = 0;
  /** Provider checks per owner in the current minute (the provider-call rate limit). */
  private readonly budget = new Map<string, { windowStart: number; used: number }>();
  /** Called when a report made keys due (the scheduler wakes up). */
  onDue: () => void = () => undefined;

  constructor(private readonly deps: KeyHealthServiceDeps) {
    this.repo = new KeyHealthRepo(deps.db, deps.dialect);
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.instanceId = deps.instanceId ?? randomUUID();
  }

  /**
   * POST /internal/v1/credentials/report. One read of the reported keys, at most one
   * write (the keys that become due). A report about another credential_version, an
   * unknown id or another owner changes nothing; the answer never says which.
   */
  async report(reports: readonly Report[]): Promise<{ received: number }> {
    const byOutcome = new Map<string, number>();
    for (const r of reports) byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + 1);
    for (const [outcome, n] of byOutcome) this.deps.metrics?.keyReports.inc({ outcome }, n);
    const relevant = reports.filter((r) => TRIGGERS.has(r.outcome) || r.outcome === 'ok');
    if (relevant.length === 0) return { received: reports.length };
    const nowMs = this.clock();
    // Keys named only by `ok` reports matter only when invalid (below): the common batch,
    // every call ok on healthy keys, reads no key row at all (docs/benchmarks.md).
    const triggered = new Set<string>();
    const okOnly = new Set<string>();
    for (const r of relevant) if (r.outcome !== 'ok') triggered.add(r.credential_id);
    for (const r of relevant) if (r.outcome === 'ok' && !triggered.has(r.credential_id)) okOnly.add(r.credential_id);
    const rows = new Map((await this.repo.findKeys([...triggered], [...okOnly])).map((k) => [k.id, k]));
    const due = new Set<string>();
    for (const r of relevant) {
      const k = rows.get(r.credential_id);
      if (!k || k.credential_version !== r.credential_version) continue;
      if (r.resource_id !== undefined && (r.resource_id !== k.owner_id || (r.resource_type ?? k.owner_type) !== k.owner_type)) continue;
      // An `ok` matters only for a key we believe broken: it asks for a confirming check.
      if (r.outcome === 'ok' && k.status !== 'invalid') continue;
      // The key was checked after the reported call: that check already knows.
      if (r.at && k.last_checked_at && Date.parse(r.at) < Date.parse(k.last_checked_at)) continue;
      if (recent(k.check_requested_at, nowMs) || recent(k.last_checked_at, nowMs)) continue;
      due.add(k.id);
    }
    if (due.size > 0) {
      await this.repo.requestChecks([...due], nowIso(this.clock));
      this.deps.metrics?.keyRechecksRequested.inc(due.size);
      this.onDue();
    }
    return { received: reports.length };
  }

  /** Makes every key of an owner (or every key) due now; answers the ids (admin CLI). */
  async requestAll(owner: Owner | null): Promise<string[]> {
    const ids = await this.repo.requestAll(owner, nowIso(this.clock));
    if (ids.length) this.onDue();
    return ids;
  }

  /** Key counts by status, of one owner or of every owner (admin `keys recheck`). */
  statusCounts(owner: Owner | null): Promise<Record<string, number>> {
    return this.repo.countStatuses(owner);
  }

  /**
   * One pass of the scheduler: claims up to `concurrency` due keys, checks them in
   * parallel and applies the results; repeats until none is due or `maxKeys` were
   * checked. Answers the ids checked by this instance.
   */
  async runDue(maxKeys = Number.POSITIVE_INFINITY, onChecked?: (id: string) => void): Promise<string[]> {
    const checked: string[] = [];
    while (checked.length < maxKeys) {
      const nowMs = this.clock();
      const limit = Math.min(this.deps.config.recheckConcurrency, maxKeys - checked.length);
      const claimed = await this.tx((repo) => repo.claimDue(new Date(nowMs).toISOString(), new Date(nowMs + LEASE_MS).toISOString(), this.instanceId, limit));
      if (claimed.length === 0) break;
      await Promise.all(
        claimed.map(async (k) => {
          try {
            if (await this.checkClaimed(k)) {
              checked.push(k.id);
              onChecked?.(k.id);
            }
          } catch (err) {
            this.deps.log?.error?.({ event: 'key_health.check_failed', key_id: k.id, err: (err as Error).name }, 'key re-check failed');
            // Try again after a minute; the lease would also expire on its own.
            await this.repo.release(k.id, this.instanceId, new Date(this.clock() + RECHECK_DEDUP_MS).toISOString()).catch(() => undefined);
          }
        }),
      );
    }
    return checked;
  }

  /**
   * POST /byok/providers/{provider}/check ("Check now"): checks the owner's key for a
   * provider with the provider now, due or not, under the same lease and hysteresis as a
   * scheduled re-check (one rejection does not make an active key invalid), and answers
   * the refreshed key. While another instance's check holds the key, answers the key as
   * it is. No key → 404; the owner's provider-call budget spent → 429.
   */
  async checkNow(owner: Owner, provider: ProviderName): Promise<ProviderKeyView> {
    const view = async () => {
      const v = await this.deps.keyView?.(owner, provider);
      if (!v) throw notFound(`no ${provider} key is stored`);
      return v;
    };
    // The key exists, else 404 (and no provider call is spent).
    await view();
    if (!this.spend(owner)) throw new AppError('rate_limited', 'too many provider key checks; retry later', { retryAfter: 60 });
    const nowMs = this.clock();
    const claimed = await this.tx((repo) => repo.claimOne(owner, provider, new Date(nowMs).toISOString(), new Date(nowMs + LEASE_MS).toISOString(), this.instanceId));
    if (claimed === undefined) throw notFound(`no ${provider} key is stored`);
    if (claimed !== 'busy') {
      try {
        await this.checkClaimed(claimed, { spent: true });
      } catch (err) {
        await this.repo.release(claimed.id, this.instanceId, new Date(this.clock() + RECHECK_DEDUP_MS).toISOString()).catch(() => undefined);
        throw err;
      }
    }
    return view();
  }

  /** Writes the expiry reminders and expiries that are due now; answers how many. */
  async scanExpiry(): Promise<number> {
    const nowMs = this.clock();
    const candidates = await this.repo.expiryCandidates(new Date(nowMs + 7 * 24 * 3600_000).toISOString(), 500);
    let written = 0;
    for (const c of candidates) {
      const notice = dueExpiryNotice(c.expires_at, c.expiry_notice, nowMs);
      if (!notice) continue;
      const done = await this.tx(async (repo, now) => {
        const k = await repo.lockKey(c.id);
        // Another instance wrote it first, or the key was replaced with another date.
        if (!k || k.expiry_notice !== c.expiry_notice || k.expires_at !== c.expires_at) return false;
        const owner: Owner = { type: k.owner_type, id: k.owner_id };
        const columns: HealthColumns = { expiry_notice: notice };
        if (notice === 'expired') {
          columns.status = 'invalid';
          columns.last_check_message = `the key's expiry date (${k.expires_at}) has passed; replace the key, or save it again with a later expires_at`;
        }
        await repo.applyHealth(k.id, k.credential_version, columns);
        const base = { provider: k.provider, key_id: k.id, key_hint: k.key_hint, expires_at: k.expires_at, credential_version: k.credential_version };
        await repo.insertEvent({
          id: this.newId(),
          owner,
          action: notice === 'expired' ? 'provider_key.expired' : 'provider_key.expiring',
          provider: k.provider,
          keyId: k.id,
          fromStatus: notice === 'expired' ? k.status : null,
          toStatus: notice === 'expired' ? 'invalid' : null,
          outcome: notice === 'expired' ? 'expired' : `expires_in_${notice}`,
          createdAt: now,
          data:
            notice === 'expired'
              ? { ...base, from_status: k.status, to_status: 'invalid', outcome: 'expired', reason: 'expired' }
              : { ...base, expires_in: notice === '7d' ? '7 days' : '1 day' },
        });
        if (notice === 'expired') this.deps.bus.publish('owner', ownerKey(owner));
        return true;
      });
      if (done) written++;
    }
    return written;
  }

  /** Checks one claimed key and applies the result; false when it was not checked (budget, replaced). */
  private async checkClaimed(k: KeyHealthRow & { ciphertext: string; location: string | null }, opts: { spent?: boolean } = {}): Promise<boolean> {
    const owner: Owner = { type: k.owner_type, id: k.owner_id };
    const provider = k.provider as ProviderName;
    if (!opts.spent && !this.spend(owner)) {
      // Over the owner's provider-call budget: try again in a minute.
      await this.repo.release(k.id, this.instanceId, new Date(this.clock() + RECHECK_DEDUP_MS).toISOString());
      return false;
    }
    let result: CheckResult;
    let unreadable = false;
    try {
      const apiKey = await this.deps.decrypt(owner, provider, k.ciphertext, k.location);
      result = (await this.deps.check(provider, apiKey, k.location, owner)).result;
    } catch (err) {
      if (!(err instanceof DecryptionError)) throw err;
      unreadable = true;
      result = { outcome: 'unavailable', message: 'the stored key cannot be decrypted (altered, moved, or its master key is not configured); replace it' };
    }
    this.deps.metrics?.keyRechecks.inc({ provider, outcome: unreadable ? 'unreadable' : result.outcome });
    const changed = await this.tx(async (repo) => {
      const nowMs = this.clock();
      const now = new Date(nowMs).toISOString();
      const cur = await repo.lockKey(k.id);
      if (!cur || cur.credential_version !== k.credential_version) return null;
      const d = decideCheck(cur, result, nowMs, this.deps.config.invalidAfterMs);
      if (unreadable) d.columns.status = d.to = 'unreadable';
      const columns: HealthColumns = {
        ...d.columns,
        next_check_at: nextCheckAt(nowMs, this.deps.config.recheckIntervalMs, this.random),
        lease_owner: null,
        lease_until: null,
        check_requested_at: null,
      };
      await repo.applyHealth(k.id, k.credential_version, columns);
      if (d.from === d.to) return null;
      await this.statusEvent(repo, owner, cur, d.from, d.to, unreadable ? 'unreadable' : result.outcome, columns.last_check_message ?? result.message, now);
      // Inside the transaction: on PostgreSQL the invalidation commits with the change.
      this.deps.bus.publish('owner', ownerKey(owner));
      return { from: d.from, to: d.to };
    });
    this.deps.log?.info(
      { event: 'key_health.checked', key_id: k.id, provider, outcome: result.outcome, ...(changed ? { from_status: changed.from, to_status: changed.to } : {}) },
      'provider key re-checked',
    );
    return true;
  }

  private async statusEvent(
    repo: KeyHealthRepo,
    owner: Owner,
    k: KeyHealthRow,
    from: KeyStatus,
    to: KeyStatus,
    outcome: string,
    message: string,
    now: string,
  ): Promise<void> {
    const e: HealthEvent = {
      id: this.newId(),
      owner,
      action: 'provider_key.status_changed',
      provider: k.provider,
      keyId: k.id,
      fromStatus: from,
      toStatus: to,
      outcome,
      createdAt: now,
      data: {
        provider: k.provider,
        key_id: k.id,
        key_hint: k.key_hint,
        credential_version: k.credential_version,
        from_status: from,
        to_status: to,
        outcome,
        message,
      },
    };
    await repo.insertEvent(e);
  }

  /** Takes one provider call from the owner's per-minute budget; false when it is spent. */
  private spend(owner: Owner): boolean {
    const key = ownerKey(owner);
    const nowMs = this.clock();
    let b = this.budget.get(key);
    if (!b || nowMs - b.windowStart >= 60_000) {
      b = { windowStart: nowMs, used: 0 };
      this.budget.set(key, b);
      if (this.budget.size > 10_000) this.budget.clear();
      this.budget.set(key, b);
    }
    if (b.used >= this.deps.providerCallsPerMinute) return false;
    b.used++;
    return true;
  }

  /** Runs `fn` in a transaction with the key-health repository bound to it. */
  private tx<T>(fn: (repo: KeyHealthRepo, now: string) => Promise<T>): Promise<T> {
    return withTransaction(this.deps.db, (trx) => fn(new KeyHealthRepo(trx, this.deps.dialect), nowIso(this.clock)));
  }

  private newId(): string {
    const ms = Math.max(this.clock(), this.lastIdMs + 1);
    this.lastIdMs = ms;
    return uuidv7(ms);
  }
}

function recent(at: string | null, nowMs: number): boolean {
  return at !== null && nowMs - Date.parse(at) < RECHECK_DEDUP_MS;
}
