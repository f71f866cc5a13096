/**
 * The rules of BYOK (CONTRACT.md sections 2–4): who may manage an owner's keys and
 * mode, the provider check before a save, envelope encryption, the audit trail and the
 * invariant "mode byok ⇒ at least one key".
 *
 * Every write runs in one transaction that first takes the owner lock (the repository's
 * writes are reachable only through it), so writes on one owner are serialized on every
 * dialect, then re-checks under that lock the authority the request was admitted with
 * (membership, team role, the `byok` flag, as committed): a check done before a provider
 * call of many seconds, or on another instance's stale cache, never authorizes a write.
 * Provider checks run before the transaction: a lock is never held across an HTTP call.
 */
import type { Db, Dialect, Trx } from '../../db/index.ts';
import { nowIso, withTransaction } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import type { AuditEventRow, KeyStatus, ModelUseMode, ProviderKeyRow } from '../../db/schema.ts';
import { AppError, forbidden, invalid, notFound } from '../../errors/index.ts';
import type { CacheBus } from '../../lib/bus.ts';
import { jsonStrings } from '../../lib/json.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { DecryptionError, unreadableKeyLog, type KeyVault } from '../../crypto/vault.ts';
import { isFederatedSecret } from '../../providers/federation.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { CheckContext, CheckOutcome, CheckResult, PreparedCredential, ProviderAdapter, ProviderName } from '../../providers/types.ts';
import type { Principal } from '../auth/auth.service.ts';
import { ownerKey, ownerOf, requireOwnerManager, type Owner } from '../auth/owner.ts';
import type { FeaturesService } from '../features/features.service.ts';
import { healthOnSave } from '../keyhealth/keyhealth.rules.ts';
import { issuerNotConfigured, oidcSubject, type OidcIssuer } from '../oidc/issuer.ts';
import { TeamsRepo } from '../teams/teams.repo.ts';
import { ByokRepo, storedModels, type AuditAction, type KeyWrite, type LockedOwner } from './byok.repo.ts';

export interface Actor {
  id: string;
  email: string;
  /** The request id, recorded in the audit trail. */
  requestId: string | null;
}

export interface ProviderKeyView {
  id: string;
  provider: ProviderName;
  display_name: string | null;
  location: string | null;
  key_hint: string;
  is_validated: boolean;
  validated_at: string | null;
  /** Provider model ids remembered from the last save's listing; null when none was made. */
  models_count: number | null;
  created_at: string;
  updated_at: string;
  /** Key health (docs/key-health.md); `unreadable` also when the secret no longer decrypts now. */
  status: KeyStatus;
  last_checked_at: string | null;
  last_check_outcome: CheckOutcome | null;
  /** Why the last check came out as it did (plain words; never the secret). */
  last_check_message: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  /** Changes whenever the secret is replaced (resolve's credential_version). */
  credential_version: number;
  /** A keyless cloud connection (no stored secret); known once the key is opened or saved. */
  keyless?: boolean;
}

export interface ValidationResult {
  valid: boolean;
  /** The check's outcome, for clients to branch on (additive to CONTRACT's ValidationResult). */
  outcome: CheckOutcome;
  details?: string;
  error?: string;
}

export interface ModeView {
  mode: ModelUseMode;
  resource_type: Owner['type'];
  resource_id: string;
  byok_enabled: boolean;
  provider_keys: number;
}

export interface AuditEventView {
  id: string;
  action: AuditAction;
  actor: { id: string; email: string } | null;
  provider: ProviderName | null;
  from_mode: ModelUseMode | null;
  to_mode: ModelUseMode | null;
  created_at: string;
  request_id: string | null;
  /** Key-health events only (actor null: the system). */
  from_status?: KeyStatus | null;
  to_status?: KeyStatus | null;
  outcome?: string | null;
  key_id?: string | null;
  /** `webhook.*`: the endpoint. */
  webhook_id?: string | null;
  /** `webhook.updated`: the names of the changed fields. */
  changed_fields?: string[];
}

export interface KeyInput {
  api_key: string;
  display_name?: string | null;
  location?: string | null;
  /** RFC 3339, in the future; null clears it; omitted keeps the stored one. */
  expires_at?: string | null;
}

export interface Logger {
  info(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

export interface ByokServiceDeps {
  db: Db;
  dialect: Dialect;
  vault: KeyVault;
  providers: ProviderRegistry;
  features: FeaturesService;
  bus: CacheBus;
  fetch: typeof fetch;
  /** NEO_PROVIDER_URL_* overrides by API name. */
  providerUrls: Partial<Record<string, string>>;
  providerTimeoutMs: number;
  clock?: () => number;
  metrics?: Metrics;
  log?: Logger;
  /** NEO_KEY_RECHECK_INTERVAL: a saved key's first scheduled re-check (default 24 h). */
  recheckIntervalMs?: number;
  /**
   * The owner's cached mode and keys (ModelsService.ownerState, dropped on the `owner`
   * topic after every committed change): GET /byok/mode then reads nothing from the
   * database on a warm cache, and agrees with GET /user, GET /models and resolve.
   */
  ownerState?: (owner: Owner) => Promise<{ storedMode: ModelUseMode; keys: readonly unknown[] }>;
  /** The OIDC issuer: keyless cloud connections exchange its tokens for the owner (docs/keyless-cloud.md). */
  oidc?: Pick<OidcIssuer, 'issuer' | 'mintToken'>;
}

/** At most this many model ids are remembered per key (a listing is bounded anyway). */
const MAX_MODELS = 5000;

/** The public view of a stored key: never the secret or its ciphertext. */
export function presentKey(row: ProviderKeyRow): ProviderKeyView {
  return {
    id: row.id,
    provider: row.provider as ProviderName,
    display_name: row.display_name,
    location: row.location,
    key_hint: row.key_hint,
    is_validated: row.is_validated === 1,
    validated_at: row.validated_at,
    models_count: storedModels(row.models)?.length ?? null,
    created_at: row.created_at,
    updated_at: row.updated_at,
    status: row.status,
    last_checked_at: row.last_checked_at,
    last_check_outcome: (row.last_check_outcome as CheckOutcome | null) ?? null,
    last_check_message: row.last_check_message,
    last_used_at: row.last_used_at,
    expires_at: row.expires_at,
    credential_version: Number(row.credential_version),
  };
}

/** A submitted expires_at: a valid RFC 3339 time in the future (400 naming the field otherwise). */
export function cleanExpiresAt(raw: string | null, nowMs: number): string | null {
  if (raw === null) return null;
  const t = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(raw) || Number.isNaN(t)) {
    throw invalid('expires_at must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z');
  }
  if (t <= nowMs) throw invalid('expires_at must be in the future');
  return new Date(t).toISOString();
}

/** Maps a check outcome to the ValidationResult of CONTRACT.md (PROVIDERS.md rule 3), with the outcome itself. */
export function toValidation(r: CheckResult): ValidationResult {
  switch (r.outcome) {
    case 'accepted':
      return { valid: true, outcome: r.outcome, details: r.message };
    case 'restricted':
    case 'billing':
      return { valid: true, outcome: r.outcome, details: `Warning: ${r.message}` };
    default:
      return { valid: false, outcome: r.outcome, error: r.message };
  }
}

/**
 * Trims a submitted display name; blank → null. Control characters (U+0000–U+001F,
 * U+007F) → 400 invalid_request naming the field.
 */
export function cleanDisplayName(raw: string | null): string | null {
  if (raw === null) return null;
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalid('display_name must not contain control characters (tabs, line breaks, NUL…)');
  const name = raw.trim();
  return name === '' ? null : name;
}

/** Upper bound of a whole provider check: well inside the 30 s request timeout (docs/byok.md "Time limits"). */
export const MAX_CHECK_DEADLINE_MS = 20_000;

/**
 * The overall deadline of one provider check: twice the per-call timeout (a check is one
 * to a few dozen sequential calls; most finish far faster), at most MAX_CHECK_DEADLINE_MS.
 */
export function checkDeadlineMs(providerTimeoutMs: number): number {
  return Math.min(2 * providerTimeoutMs, MAX_CHECK_DEADLINE_MS);
}

/**
 * The 403 byok_not_enabled detail: whose flag is off (the team's flag applies to all its
 * members) and the exact command a platform admin runs to turn it on. The team id is the
 * caller's own team's; the email is not repeated (it would land in logs).
 */
export function byokNotEnabled(owner: Owner): string {
  return owner.type === 'team'
    ? `BYOK is not enabled for this team; a platform admin can enable it with \`neo-byok admin features set --team-id ${owner.id} byok=on\``
    : 'BYOK is not enabled for your account; a platform admin can enable it with `neo-byok admin features set --email <your email> byok=on`';
}

/** Outcomes that save the key as validated. */
const VALIDATED = new Set(['accepted', 'restricted', 'billing']);

export class ByokService {
  /** Reads outside a transaction; writes go through `locked()`. */
  private readonly repo: ByokRepo;
  private readonly clock: () => number;
  private lastIdMs = 0;

  constructor(private readonly deps: ByokServiceDeps) {
    this.repo = new ByokRepo(deps.db, deps.dialect);
    this.clock = deps.clock ?? Date.now;
  }

  /**
   * Access rule of every BYOK write and listing: solo user or team admin (403
   * `forbidden` otherwise), then the owner's `byok` flag (403 `byok_not_enabled`).
   */
  async authorizeManage(p: Principal): Promise<Owner> {
    const owner = requireOwnerManager(p);
    if (!(await this.deps.features.isEnabled(owner, 'byok'))) throw new AppError('byok_not_enabled', byokNotEnabled(owner));
    return owner;
  }

  /** The effective mode of the caller's owner (any team role). Flag off: `neo`. */
  async getMode(p: Principal): Promise<ModeView> {
    const owner = ownerOf(p);
    const stored = this.deps.ownerState
      ? this.deps.ownerState(owner).then((st) => ({ mode: st.storedMode, keys: st.keys.length }))
      : this.repo.modeAndCount(owner);
    const [enabled, { mode, keys }] = await Promise.all([this.deps.features.isEnabled(owner, 'byok'), stored]);
    return {
      mode: enabled ? mode : 'neo',
      resource_type: owner.type,
      resource_id: owner.id,
      byok_enabled: enabled,
      provider_keys: keys,
    };
  }

  /** PATCH /byok/mode: byok needs at least one key; the current mode again is a no-op 200. */
  async setMode(owner: Owner, actor: Actor, mode: ModelUseMode): Promise<{ mode: ModelUseMode; resource_type: Owner['type']; resource_id: string }> {
    await this.locked(owner, actor, async (lock, now) => {
      if (mode === 'byok' && (await lock.countKeys()) === 0) {
        throw new AppError('byok_no_provider_keys', 'add at least one provider key before switching to byok');
      }
      if (lock.mode === mode) return false;
      await lock.setMode(mode, now);
      await this.audit(lock, actor, now, 'mode.changed', null, lock.mode, mode, { from_mode: lock.mode, to_mode: mode });
      return true;
    });
    return { mode, resource_type: owner.type, resource_id: owner.id };
  }

  async listKeys(owner: Owner): Promise<ProviderKeyView[]> {
    const rows = await this.repo.listKeys(owner);
    const out: ProviderKeyView[] = [];
    for (const row of rows) {
      const view = presentKey(row);
      // Each key is opened (and the plaintext dropped) so an admin sees which ones to replace.
      try {
        const secret = await this.deps.vault.decrypt(owner, view.provider, row.ciphertext, row.location);
        view.keyless = isFederatedSecret(view.provider, secret);
      } catch (err) {
        if (!(err instanceof DecryptionError)) throw err;
        view.status = 'unreadable';
        this.deps.log?.error?.(...unreadableKeyLog(owner, view.provider, { key_id: row.id }));
      }
      out.push(view);
    }
    return out;
  }

  /** The owner's key for a provider as listKeys shows it; undefined when there is none. */
  async keyView(owner: Owner, provider: ProviderName): Promise<ProviderKeyView | undefined> {
    return (await this.listKeys(owner)).find((k) => k.provider === provider);
  }

  /**
   * Local shape check (400 naming the field) then the live check; never throws for
   * provider failures. A keyless connection is checked with the owner's OIDC tokens
   * (400 oidc_issuer_not_configured without NEO_OIDC_ISSUER).
   */
  async checkCredential(
    provider: ProviderName,
    apiKey: string,
    location: string | null | undefined,
    owner?: Owner,
    opts: { requireIssuer?: boolean } = {},
  ): Promise<{ prepared: PreparedCredential; result: CheckResult }> {
    const adapter = this.adapter(provider);
    const prepared = adapter.prepare({ apiKey, location });
    // A save or validation says what to configure; a re-check finds the check inconclusive (unavailable).
    if (opts.requireIssuer && prepared.federated && !this.deps.oidc?.issuer()) throw issuerNotConfigured();
    const result = await this.runCheck(adapter, prepared, owner);
    this.deps.metrics?.providerChecks.inc({ provider, outcome: result.outcome });
    this.deps.log?.info({ provider, outcome: result.outcome }, 'provider key check');
    return { prepared, result };
  }

  /** POST /byok/providers/{provider}/validate: checks a key without saving it. */
  async validateKey(provider: ProviderName, input: { api_key: string; location?: string | null }, owner?: Owner): Promise<ValidationResult> {
    const { result } = await this.checkCredential(provider, input.api_key, input.location, owner, { requireIssuer: true });
    return toValidation(result);
  }

  /**
   * PATCH /byok/providers/{provider}: check, then encrypt and save (create or replace).
   * A rejected key → 400 provider_key_invalid and nothing is saved. Omitted
   * `display_name`/`location` keep their stored values; null clears them.
   */
  async putKey(owner: Owner, actor: Actor, provider: ProviderName, input: KeyInput): Promise<{ provider_key: ProviderKeyView; validation: ValidationResult }> {
    // Checked before the provider call: a bad name must not spend one (and a NUL byte
    // would otherwise fail only at the PostgreSQL insert, as a 500).
    const submittedName = input.display_name !== undefined ? cleanDisplayName(input.display_name) : undefined;
    const submittedExpiry = input.expires_at !== undefined ? cleanExpiresAt(input.expires_at, this.clock()) : undefined;
    // The stored location is the default the key is checked against; the pair (key,
    // location) that passed the check is what gets saved, even if another save changed
    // the location meanwhile (a location is only ever saved with a checked key).
    const location = input.location !== undefined ? input.location : ((await this.repo.getKey(owner, provider))?.location ?? null);
    const { prepared, result } = await this.checkCredential(provider, input.api_key, location, owner, { requireIssuer: true });
    if (result.outcome === 'rejected') throw new AppError('provider_key_invalid', result.message);

    const validated = VALIDATED.has(result.outcome);
    const models = result.models ? [...new Set(result.models)].filter((m) => m.length > 0 && m.length <= 256).slice(0, MAX_MODELS) : null;

    const row = await this.locked(owner, actor, async (lock, now, trx) => {
      // Defaults come from the row as it is under the lock: a concurrent save's name is kept.
      const current = await lock.getKey(provider);
      const { ciphertext, dataKeyId } = await this.deps.vault.encryptFor(trx, owner, provider, prepared.apiKey, prepared.location);
      const write: KeyWrite = {
        id: current?.id ?? this.newId(),
        provider,
        displayName: submittedName !== undefined ? submittedName : (current?.display_name ?? null),
        location: prepared.location,
        keyHint: prepared.keyHint,
        ciphertext,
        dataKeyId,
        isValidated: validated,
        validatedAt: validated ? now : null,
        models,
        modelsDiscoveredAt: models ? now : null,
        now,
        health: {
          ...healthOnSave(result, Date.parse(now), this.deps.recheckIntervalMs ?? 86_400_000),
          // A new expiry date starts its reminders afresh.
          ...(submittedExpiry !== undefined && submittedExpiry !== (current?.expires_at ?? null)
            ? { expires_at: submittedExpiry, expiry_notice: null }
            : {}),
        },
      };
      // The row as stored comes back from the write itself (RETURNING), not from a second read.
      const saved = current ? await lock.updateKey(write) : await lock.insertKey(write);
      if (!saved) throw new Error('provider key vanished inside its transaction');
      await this.audit(lock, actor, now, current ? 'provider_key.updated' : 'provider_key.created', provider, null, null, {
        ...keyEventData(saved),
        status: saved.status,
        outcome: result.outcome,
        expires_at: saved.expires_at,
      });
      return saved;
    });
    const validation = toValidation(result);
    if (result.outcome === 'rate_limited' || result.outcome === 'unavailable') {
      // The scheduled re-check verifies it later (docs/key-health.md); saving it again verifies it now.
      validation.details = `the key is saved but not verified (status unverified); it is checked again on the next scheduled re-check, or save it again with PATCH /api/v1/byok/providers/${provider} and the same api_key to check it now`;
    }
    return { provider_key: { ...presentKey(row), keyless: prepared.federated === true }, validation };
  }

  /**
   * DELETE /byok/providers/{provider}. Deleting the last key while the mode is byok
   * switches the mode to neo in the same transaction (audited as mode.auto_switched).
   */
  async deleteKey(owner: Owner, actor: Actor, provider: ProviderName): Promise<{ deleted: true; provider: ProviderName; remaining_keys: number; auto_switched: boolean }> {
    const out = await this.locked(owner, actor, async (lock, now) => {
      const key = await lock.getKey(provider);
      if (!key || !(await lock.deleteKey(provider))) {
        throw notFound(`no ${provider} key is configured`);
      }
      const remaining = await lock.countKeys();
      await this.audit(lock, actor, now, 'provider_key.deleted', provider, null, null, { ...keyEventData(key), remaining_keys: remaining });
      let autoSwitched = false;
      if (remaining === 0 && lock.mode === 'byok') {
        await lock.setMode('neo', now);
        await this.audit(lock, actor, now, 'mode.auto_switched', provider, 'byok', 'neo', {
          from_mode: 'byok',
          to_mode: 'neo',
          reason: 'last_provider_key_deleted',
          provider,
          key_id: key.id,
        });
        autoSwitched = true;
      }
      return { remaining, autoSwitched };
    });
    return { deleted: true, provider, remaining_keys: out.remaining, auto_switched: out.autoSwitched };
  }

  async listAudit(owner: Owner, limit: number, offset: number): Promise<{ data: AuditEventView[]; has_more: boolean; total: number }> {
    const { rows, total } = await this.repo.listAudit(owner, limit, offset);
    return { data: rows.map(presentAudit), has_more: offset + rows.length < total, total };
  }

  private adapter(provider: ProviderName): ProviderAdapter {
    const a = this.deps.providers.get(provider);
    if (!a) throw new AppError('invalid_request', `unknown provider "${provider}"`);
    return a;
  }

  /**
   * One live check under one overall deadline (checkDeadlineMs): every call of the
   * adapter shares it, and a check still running when it fires is `unavailable`, even if
   * the adapter would have settled for partial results afterwards.
   */
  private async runCheck(adapter: ProviderAdapter, prepared: PreparedCredential, owner?: Owner): Promise<CheckResult> {
    const deadlineMs = checkDeadlineMs(this.deps.providerTimeoutMs);
    const signal = AbortSignal.timeout(deadlineMs);
    const late: CheckResult = {
      outcome: 'unavailable',
      message: `the ${adapter.displayName} check did not finish within ${deadlineMs / 1000} s, so the key could not be verified; try again later`,
    };
    let onAbort = (): void => undefined;
    const deadline = new Promise<CheckResult>((resolve) => {
      onAbort = () => resolve(late);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([adapter.check(prepared, this.checkContext(signal, owner)), deadline]);
      return signal.aborted ? late : result;
    } catch {
      // Adapters must not throw; if one does, the check is inconclusive, never a 500.
      return { outcome: 'unavailable', message: `the ${adapter.displayName} check failed unexpectedly; try again later` };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private checkContext(signal: AbortSignal, owner?: Owner): CheckContext {
    const urls = this.deps.providerUrls;
    const oidc = this.deps.oidc;
    return {
      fetch: this.deps.fetch,
      timeoutMs: this.deps.providerTimeoutMs,
      signal,
      baseUrl: (api, fallback) => (urls[api] ?? fallback).replace(/\/+$/, ''),
      clock: this.clock,
      ...(owner && oidc?.issuer() ? { federation: { subject: oidcSubject(owner), mintToken: (audience: string) => oidc.mintToken(owner, audience) } } : {}),
    };
  }

  /**
   * Runs another module's write on this owner (webhook endpoints) under the same owner
   * lock and authority re-check as the BYOK writes: the limits it checks (at most 10
   * endpoints) hold under concurrency, and a demoted admin or a flag turned off meanwhile
   * writes nothing.
   */
  runLocked<T>(owner: Owner, actor: Actor, fn: (trx: Trx, now: string) => Promise<T>): Promise<T> {
    return this.locked(owner, actor, (_lock, now, trx) => fn(trx, now));
  }

  /**
   * Runs a write: one transaction that takes the owner lock, then re-checks the actor's
   * authority as committed (see `recheckAuthority`), then runs `fn` with the lock's writes.
   */
  private locked<T>(owner: Owner, actor: Actor, fn: (lock: LockedOwner, now: string, trx: Trx) => Promise<T>): Promise<T> {
    return withTransaction(this.deps.db, async (trx) => {
      const now = nowIso(this.clock);
      const lock = await new ByokRepo(trx, this.deps.dialect).lockOwner(owner, now);
      await this.recheckAuthority(trx, owner, actor);
      const value = await fn(lock, now, trx);
      // Every instance drops its cached state of this owner. Published inside the
      // transaction: on PostgreSQL the NOTIFY commits with the write (a crash between
      // the commit and a later publish cannot lose it), and local delivery follows the
      // commit. A write that changed nothing (the same mode again) invalidates harmlessly.
      this.deps.bus.publish('owner', ownerKey(owner));
      return value;
    });
  }

  /**
   * The access rule of BYOK writes, re-checked inside the write transaction from the
   * committed rows (no cache): the actor still owns these settings (solo user, or an
   * active member of the owning team), is still a team admin, and the owner's `byok`
   * flag is still on. The membership and flag rows stay share-locked until the commit
   * on PostgreSQL, so a removal, demotion or flag change waits for this write or wins
   * before it, never in between. Otherwise 403 and nothing is written.
   */
  private async recheckAuthority(trx: Trx, owner: Owner, actor: Actor): Promise<void> {
    const m = await new TeamsRepo(trx, this.deps.dialect).activeMembershipForWrite(actor.id);
    const owns = m ? owner.type === 'team' && owner.id === m.team_id : owner.type === 'user' && owner.id === actor.id;
    if (!owns) {
      throw forbidden(
        owner.type === 'team'
          ? 'you are no longer a member of this team; nothing was saved'
          : 'you joined a team while this request was running, so your own BYOK settings are no longer the ones in effect; nothing was saved',
      );
    }
    if (m && m.role !== 'admin') throw forbidden(`only team admins manage BYOK settings; your team role is now ${m.role}; nothing was saved`);
    if (!(await this.deps.features.isEnabledForWrite(trx, owner, 'byok'))) throw new AppError('byok_not_enabled', byokNotEnabled(owner));
  }

  /** UUIDv7 ids strictly increasing within this process, so same-millisecond audit events keep their order. */
  private newId(): string {
    const ms = Math.max(this.clock(), this.lastIdMs + 1);
    this.lastIdMs = ms;
    return uuidv7(ms);
  }

  /**
   * The audit row of a change and, with `event`, the outbox row of the same event (same
   * id), both in the change's transaction: a webhook event exists exactly when the change
   * committed (docs/webhooks.md). `event` is the payload's `data`: never a secret.
   */
  private async audit(
    lock: LockedOwner,
    actor: Actor,
    now: string,
    action: AuditAction,
    provider: ProviderName | null,
    fromMode: ModelUseMode | null,
    toMode: ModelUseMode | null,
    event?: Record<string, unknown>,
  ): Promise<void> {
    const id = this.newId();
    if (event) await lock.insertOutbox({ id, type: action, createdAt: now, data: event });
    await lock.insertAudit({ id, action, actor, provider, fromMode, toMode, createdAt: now });
  }
}

/** What every provider_key.* event says about the key (never the secret). */
function keyEventData(k: ProviderKeyRow): Record<string, unknown> {
  return { provider: k.provider, key_id: k.id, key_hint: k.key_hint, display_name: k.display_name, credential_version: Number(k.credential_version) };
}

function presentAudit(r: AuditEventRow): AuditEventView {
  return {
    id: r.id,
    action: r.action as AuditAction,
    actor: r.actor_id ? { id: r.actor_id, email: r.actor_email ?? '' } : null,
    provider: (r.provider as ProviderName | null) ?? null,
    from_mode: r.from_mode,
    to_mode: r.to_mode,
    created_at: r.created_at,
    request_id: r.request_id,
    ...(r.to_status !== null || r.from_status !== null || r.outcome !== null
      ? { from_status: r.from_status as KeyStatus | null, to_status: r.to_status as KeyStatus | null, outcome: r.outcome, key_id: r.key_id }
      : {}),
    ...(r.webhook_id ? { webhook_id: r.webhook_id } : {}),
    ...(r.changed_fields ? { changed_fields: changedFields(r.changed_fields) } : {}),
  };
}

/** The stored `changed_fields` (a JSON array of names, src/db/audit.ts); [] if unreadable. */
function changedFields(raw: string): string[] {
  return jsonStrings(raw) ?? [];
}
