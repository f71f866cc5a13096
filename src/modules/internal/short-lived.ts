/**
 * Short-lived credentials for resolve (issue 18 items 6 and 7): keyless cloud connections
 * (an AWS role, a Google workload identity, an Entra app) and, on `short_lived: true`,
 * stored cloud keys that have a short-lived form (a Vertex service-account key → an
 * access token, long-term AWS keys → GetSessionToken keys).
 *
 * Cached per owner and key version, in memory only (never written anywhere, never
 * logged), and refreshed in the background ahead of expiry: while a cached credential
 * has at least MIN_REMAINING_MS left, resolve returns it without waiting on any cloud
 * call, even when the cloud is down; a refresh starts once REFRESH_AHEAD_MS (or half
 * the lifetime, for shorter ones) is left, on the resolve that sees it due and on the
 * periodic sweep. Only a resolve that finds nothing valid waits for an exchange (one per
 * key at a time, shared by concurrent resolves); if the cloud refuses it → 409
 * `cloud_credential_rejected`, if the cloud cannot be reached → 503
 * `cloud_credential_unavailable` (docs/runtime-integration.md).
 *
 * The refresh decrypts the stored credential again from its ciphertext: no plaintext of
 * a stored key is kept between calls.
 */
import { LRUCache } from 'lru-cache';
import { AppError } from '../../errors/index.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { PollLoop } from '../../lib/poll-loop.ts';
import { EVERYTHING, type CacheBus } from '../../lib/bus.ts';
import { isFederatedSecret } from '../../providers/federation.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { CheckContext, CheckResult, CredentialKind, ProviderName, ShortLivedCredential, ShortLivedResult } from '../../providers/types.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import { checkDeadlineMs } from '../byok/byok.service.ts';
import { oidcSubject, type OidcIssuer } from '../oidc/issuer.ts';

/** A cached credential is handed out while it has at least this long left. */
export const MIN_REMAINING_MS = 60_000;
/** A refresh starts this long before expiry (or at half the lifetime, when shorter). */
export const REFRESH_AHEAD_MS = 15 * 60_000;
/**
 * With nothing valid cached, a failed exchange is answered again for this long without a
 * cloud call (the `Retry-After` of 503 cloud_credential_unavailable): a runtime resolves
 * before every LLM call, and each would otherwise wait on an unreachable cloud again.
 */
export const FAILED_EXCHANGE_MS = 5_000;
/** As FAILED_EXCHANGE_MS for a refused exchange (409 cloud_credential_rejected): a fix on the cloud's side shows within this. */
export const REJECTED_EXCHANGE_MS = 30_000;
/** After a failed background refresh, the next attempt waits this long. */
export const REFRESH_RETRY_MS = 30_000;
/** The sweep refreshes only credentials used within this window (an idle owner costs no cloud calls). */
const IDLE_MS = 60 * 60_000;
const SWEEP_MS = 30_000;
/** Background refreshes one sweep runs at once. */
export const SWEEP_CONCURRENCY = 8;

/** What resolve hands out as `credential`. */
export interface DeliveredCredential {
  api_key: string;
  location: string | null;
  kind: CredentialKind;
  expires_at: string | null;
}

export { isFederatedSecret };

/** The kind of a stored secret handed out as saved. */
export function storedKind(provider: ProviderName, secret: string): CredentialKind {
  if (provider === 'google-vertex') return 'gcp_service_account';
  if (provider === 'amazon-bedrock' && secret.startsWith('{')) return 'aws_access_keys';
  return 'api_key';
}

export interface StoredKeyRef {
  id: string;
  version: number;
  ciphertext: string;
  location: string | null;
}

export interface ShortLivedDeps {
  providers: ProviderRegistry;
  oidc?: Pick<OidcIssuer, 'issuer' | 'mintToken'>;
  /** Decrypts a stored secret again for a background refresh (the vault). */
  decrypt(owner: Owner, provider: ProviderName, ciphertext: string, location: string | null): Promise<string>;
  fetch: typeof fetch;
  providerUrls: Partial<Record<string, string>>;
  providerTimeoutMs: number;
  clock?: () => number;
  log?: { warn(obj: object, msg: string): void };
  metrics?: Pick<Metrics, 'cloudExchanges'>;
  maxEntries?: number;
  /**
   * The bus's `owner` messages (any BYOK write of the owner, on any instance): the sweep
   * stops refreshing that owner's entries until a resolve uses one again, so a deleted or
   * replaced connection is not exchanged with its cloud any more (only the current key is
   * resolved). The entries stay usable: a resolve is not made to wait on a cloud call.
   */
  bus?: Pick<CacheBus, 'subscribe'>;
}

interface Entry {
  owner: Owner;
  provider: ProviderName;
  key: StoredKeyRef;
  cred: ShortLivedCredential;
  refreshAtMs: number;
  lastUsedMs: number;
  retryAtMs: number;
  refreshing: Promise<void> | null;
}

export class ShortLivedCredentials {
  private readonly clock: () => number;
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<ShortLivedResult | null>>();
  /** Failed exchanges by cache key, each until its window ends (FAILED_EXCHANGE_MS, REJECTED_EXCHANGE_MS). */
  private readonly failures: LRUCache<string, { owner: Owner; failed: CheckResult; untilMs: number }>;
  private readonly refreshes = new Set<Promise<void>>();
  private readonly loop: PollLoop;
  private sweeping: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly deps: ShortLivedDeps) {
    this.clock = deps.clock ?? Date.now;
    this.cache = new LRUCache<string, Entry>({ max: deps.maxEntries ?? 10_000 });
    this.failures = new LRUCache({ max: deps.maxEntries ?? 10_000 });
    this.loop = new PollLoop({
      pollMs: SWEEP_MS,
      firstDelayMaxMs: SWEEP_MS,
      round: () => this.refreshDue(),
      // The error's class only: this code handles credentials, a message could quote one.
      onError: (err) => this.deps.log?.warn({ event: 'short_lived.sweep_failed', err: (err as Error)?.name ?? 'unknown' }, 'short-lived credential sweep failed'),
    });
    deps.bus?.subscribe('owner', (key) => {
      for (const e of this.cache.values()) {
        if (key === EVERYTHING || ownerKey(e.owner) === key) e.lastUsedMs = Number.NEGATIVE_INFINITY;
      }
      // The connection may have been fixed and re-saved: the next resolve asks the cloud.
      for (const [id, f] of this.failures.entries()) {
        if (key === EVERYTHING || ownerKey(f.owner) === key) this.failures.delete(id);
      }
    });
  }

  /**
   * The short-lived credential for a stored key, from the cache when one is valid (no
   * cloud call on this path), else from one exchange. Null when the credential has no
   * short-lived form (an API key): the caller hands out the stored one.
   */
  async get(owner: Owner, provider: ProviderName, key: StoredKeyRef, secret: string): Promise<DeliveredCredential | null> {
    const id = cacheKey(owner, provider, key);
    const now = this.clock();
    const hit = this.cache.get(id);
    if (hit && hit.cred.expiresAtMs - now >= MIN_REMAINING_MS) {
      hit.lastUsedMs = now;
      if (now >= hit.refreshAtMs) this.refresh(id, hit);
      return deliver(hit.cred, key.location);
    }
    // A failure within its window is answered again at once: no cloud call.
    const failed = this.failures.get(id);
    if (failed && now < failed.untilMs) throw exchangeError(provider, failed.failed, failed.untilMs - now);
    const r = await this.exchangeOnce(id, owner, provider, key, secret, 'resolve');
    if (r === null) return null;
    if (!r.ok) {
      const windowMs = r.result.outcome === 'rejected' ? REJECTED_EXCHANGE_MS : FAILED_EXCHANGE_MS;
      this.failures.set(id, { owner, failed: r.result, untilMs: this.clock() + windowMs });
      throw exchangeError(provider, r.result, windowMs);
    }
    return deliver(r.credential, key.location);
  }

  /** Refreshes every cached credential that is due and was used recently (the periodic sweep; tests call it directly). */
  async refreshDue(): Promise<void> {
    // One sweep at a time: a slow one is not joined by the next tick's.
    if (this.sweeping) return this.sweeping;
    this.sweeping = this.sweep().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  /**
   * The due entries are refreshed SWEEP_CONCURRENCY at a time, not all at once: entries
   * made together (after a restart, every owner's first resolve) fall due together, and
   * thousands of simultaneous exchanges would time out together and retry together.
   */
  private async sweep(): Promise<void> {
    const now = this.clock();
    const due: [string, Entry][] = [];
    for (const [id, e] of this.cache.entries()) {
      if (e.cred.expiresAtMs <= now) {
        this.cache.delete(id);
        continue;
      }
      if (now >= e.refreshAtMs && now - e.lastUsedMs <= IDLE_MS) due.push([id, e]);
    }
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < due.length && !this.stopped) {
        const [id, e] = due[next++]!;
        this.refresh(id, e);
        if (e.refreshing) await e.refreshing;
      }
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, due.length) }, lane));
    await this.settled();
  }

  /** Waits for the background refreshes running now. */
  async settled(): Promise<void> {
    while (this.refreshes.size > 0) await Promise.all([...this.refreshes]);
  }

  /** Starts the periodic sweep (src/lib/poll-loop.ts). */
  start(): void {
    this.stopped = false;
    this.loop.start();
  }

  async stop(): Promise<void> {
    // A sweep in progress starts no more refreshes; the running ones finish.
    this.stopped = true;
    await this.loop.stop();
    await this.sweeping;
    await this.settled();
  }

  /** Drops every cached credential and remembered failure (tests; an operator's restart does the same). */
  clear(): void {
    this.cache.clear();
    this.failures.clear();
  }

  /** How many credentials are cached (metrics, tests). */
  get size(): number {
    return this.cache.size;
  }

  private exchangeOnce(id: string, owner: Owner, provider: ProviderName, key: StoredKeyRef, secret: string, trigger: 'resolve' | 'refresh'): Promise<ShortLivedResult | null> {
    const running = this.inflight.get(id);
    if (running) return running;
    const p = this.exchange(owner, provider, key, secret)
      .then((r) => {
        if (r) this.deps.metrics?.cloudExchanges.inc({ provider, trigger, outcome: r.ok ? 'accepted' : r.result.outcome });
        if (r?.ok) {
          this.failures.delete(id);
          this.store(id, owner, provider, key, r.credential);
        }
        return r;
      })
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  /** A background refresh of one entry: never awaited by resolve; a failure keeps the cached credential. */
  private refresh(id: string, e: Entry): void {
    const now = this.clock();
    if (e.refreshing || now < e.retryAtMs) return;
    const p = (async () => {
      try {
        const secret = await this.deps.decrypt(e.owner, e.provider, e.key.ciphertext, e.key.location);
        const r = await this.exchangeOnce(id, e.owner, e.provider, e.key, secret, 'refresh');
        if (r && !r.ok) {
          e.retryAtMs = this.clock() + REFRESH_RETRY_MS;
          this.deps.log?.warn(
            { event: 'short_lived.refresh_failed', provider: e.provider, owner_type: e.owner.type, owner_id: e.owner.id, outcome: r.result.outcome },
            'background refresh of a short-lived cloud credential failed; the cached one is used until it expires',
          );
        }
      } catch (err) {
        e.retryAtMs = this.clock() + REFRESH_RETRY_MS;
        this.deps.log?.warn(
          { event: 'short_lived.refresh_failed', provider: e.provider, owner_type: e.owner.type, owner_id: e.owner.id, err: (err as Error)?.name },
          'background refresh of a short-lived cloud credential failed; the cached one is used until it expires',
        );
      }
    })().finally(() => {
      e.refreshing = null;
      this.refreshes.delete(p);
    });
    e.refreshing = p;
    this.refreshes.add(p);
  }

  private store(id: string, owner: Owner, provider: ProviderName, key: StoredKeyRef, cred: ShortLivedCredential): void {
    const now = this.clock();
    const lifetime = Math.max(0, cred.expiresAtMs - now);
    const previous = this.cache.get(id);
    this.cache.set(id, {
      owner,
      provider,
      key,
      cred,
      refreshAtMs: cred.expiresAtMs - Math.min(REFRESH_AHEAD_MS, lifetime / 2),
      lastUsedMs: previous?.lastUsedMs ?? now,
      retryAtMs: 0,
      refreshing: null,
    });
  }

  private async exchange(owner: Owner, provider: ProviderName, key: StoredKeyRef, secret: string): Promise<ShortLivedResult | null> {
    const adapter = this.deps.providers.get(provider);
    if (!adapter?.shortLived) return null;
    const deadline = checkDeadlineMs(this.deps.providerTimeoutMs);
    const signal = AbortSignal.timeout(deadline);
    const urls = this.deps.providerUrls;
    const oidc = this.deps.oidc;
    const ctx: CheckContext = {
      fetch: this.deps.fetch,
      timeoutMs: this.deps.providerTimeoutMs,
      signal,
      baseUrl: (api, fallback) => (urls[api] ?? fallback).replace(/\/+$/, ''),
      clock: this.clock,
      ...(oidc?.issuer() ? { federation: { subject: oidcSubject(owner), mintToken: (audience: string) => oidc.mintToken(owner, audience) } } : {}),
    };
    try {
      return await adapter.shortLived({ apiKey: secret, location: key.location, keyHint: '' }, ctx);
    } catch {
      // Adapters must not throw; if one does, the exchange is inconclusive, never a 500.
      return { ok: false, result: { outcome: 'unavailable', message: 'the exchange failed unexpectedly; try again later' } };
    }
  }
}

function cacheKey(owner: Owner, provider: ProviderName, key: StoredKeyRef): string {
  return `${ownerKey(owner)}|${provider}|${key.id}|${key.version}|${key.location ?? ''}`;
}

/** The resolve error of a failed exchange: 409 when the cloud refused, else 503 with Retry-After (the rest of the window). */
function exchangeError(provider: ProviderName, failed: CheckResult, remainingMs: number): AppError {
  if (failed.outcome === 'rejected') return new AppError('cloud_credential_rejected', `${provider}: ${failed.message}`);
  return new AppError('cloud_credential_unavailable', `${provider}: no valid short-lived credential is cached and the exchange failed: ${failed.message}`, {
    retryAfter: Math.max(1, Math.ceil(remainingMs / 1000)),
  });
}

function deliver(cred: ShortLivedCredential, location: string | null): DeliveredCredential {
  return { api_key: cred.apiKey, location, kind: cred.kind, expires_at: new Date(cred.expiresAtMs).toISOString() };
}
