/**
 * Credential resolution for the agent runtime (CONTRACT.md section 8): for a user and a
 * model (or `auto`), which provider, which provider model id and, in byok mode, which
 * decrypted credential to use.
 *
 * Hot path, called on every LLM call: no provider call, no database read on a warm
 * cache (user → membership from AuthService's cache, the flag from FeaturesService's,
 * mode and key rows from ModelsService's; each dropped by its bus topic). The secret is
 * decrypted per call with the vault's cached data key and never cached in plaintext,
 * never logged, and counted in metrics by owner type, provider, mode and outcome (never
 * per owner: that label would grow without bound); the owner is in the request's log line.
 */
import { AppError, notFound } from '../../errors/index.ts';
import type { Metrics } from '../../lib/metrics.ts';
import type { KeyVault } from '../../crypto/vault.ts';
import type { ModelUseMode, OwnerType } from '../../db/schema.ts';
import { AUTO_MODEL_ID, findModel, type CatalogueModel } from '../../models/catalogue.ts';
import type { ProviderName } from '../../providers/types.ts';
import type { AuthService } from '../auth/auth.service.ts';
import type { Owner } from '../auth/owner.ts';
import type { Effective, ModelsService, Serving } from '../models/models.service.ts';
import { andThen, isPending, type Now } from '../../lib/cache.ts';
import { isFederatedSecret, storedKind, type DeliveredCredential, type ShortLivedCredentials } from './short-lived.ts';

export interface ResolveResult {
  mode: ModelUseMode;
  resource_type: OwnerType;
  resource_id: string;
  neo_model_id: string;
  provider: ProviderName;
  provider_model_id: string;
  credential: DeliveredCredential | null;
  /** The serving key's id and version (byok mode); null in neo mode. */
  credential_id: string | null;
  credential_version: number | null;
}

export interface ResolveServiceDeps {
  auth: Pick<AuthService, 'membershipNow'>;
  models: Pick<ModelsService, 'effectiveNow' | 'autoModel' | 'servingKey' | 'unavailableReason'>;
  vault: Pick<KeyVault, 'decryptNow'>;
  metrics: Metrics;
  /** Notes the key handed out (`last_used_at`, written off the request path). */
  usage?: { touch(keyId: string): void };
  /** Keyless connections and `short_lived` delivery (short-lived.ts); without it, stored secrets only. */
  shortLived?: ShortLivedCredentials;
}

export interface ResolveOptions {
  /** Deliver a short-lived form of a stored cloud key when it has one (issue 18 item 7). */
  shortLived?: boolean;
}

/** Told the owner a call resolves for, once known (the route puts it into the request's log line). */
export type OwnerObserver = (owner: Owner) => void;

type Outcome = 'resolved' | 'unknown_user' | 'unknown_model' | 'model_unavailable' | 'error';

export class ResolveService {
  constructor(private readonly deps: ResolveServiceDeps) {}

  async resolve(userId: string, modelId: string, observe?: OwnerObserver, options: ResolveOptions = {}): Promise<ResolveResult> {
    return this.resolveNow(userId, modelId, observe, options);
  }

  /**
   * As `resolve`, but on a warm cache (user, flag, owner state and data key cached; no
   * short-lived exchange) the answer itself, computed synchronously: no promise and no
   * microtask on the hot path (the route sends it at once). Otherwise a promise. Errors
   * are thrown, or the promise rejects.
   */
  resolveNow(userId: string, modelId: string, observe?: OwnerObserver, options: ResolveOptions = {}): Now<ResolveResult> {
    return andThen(this.deps.auth.membershipNow(userId), (found) => {
      if (!found) {
        this.count(null, '', 'neo', 'unknown_user');
        throw notFound('no user with this id');
      }
      const owner: Owner = found.membership ? { type: 'team', id: found.membership.teamId } : { type: 'user', id: found.user.id };
      observe?.(owner);
      const requested = modelId === AUTO_MODEL_ID ? undefined : findModel(modelId);
      if (modelId !== AUTO_MODEL_ID && !requested) {
        this.count(owner, '', 'neo', 'unknown_model');
        throw notFound(`no model "${modelId.slice(0, 100)}" in the Neo catalogue; GET /api/v1/models lists them`);
      }
      return andThen(this.deps.models.effectiveNow(owner), (e) => this.forOwner(owner, e, requested, options));
    });
  }

  private forOwner(owner: Owner, e: Effective, requested: CatalogueModel | undefined, options: ResolveOptions): Now<ResolveResult> {
    if (e.mode === 'neo') {
      const model = requested ?? this.deps.models.autoModel(e);
      if (!model) throw new Error('the catalogue is empty');
      const provider = model.vendor;
      this.count(owner, provider, 'neo', 'resolved');
      return {
        mode: e.mode,
        resource_type: owner.type,
        resource_id: owner.id,
        neo_model_id: model.id,
        provider,
        provider_model_id: preferredId(model, provider),
        credential: null,
        credential_id: null,
        credential_version: null,
      };
    }

    // byok: no silent fallback to the platform's key.
    const model = requested ?? this.deps.models.autoModel(e);
    // A key the provider rejects is skipped for another of the owner's own keys (docs/key-health.md).
    const serving = model ? this.deps.models.servingKey(e, model.id) : undefined;
    if (!model || !serving) {
      this.count(owner, '', 'byok', 'model_unavailable');
      const detail = !model
        ? `BYOK mode: none of the provider keys serves a catalogue model, so "auto" has nothing to pick`
        : this.deps.models.unavailableReason(e, model);
      throw new AppError('byok_model_unavailable', detail);
    }
    let secret: Now<string>;
    try {
      // The location (for Azure the endpoint the runtime sends the key to) is sealed with
      // the key and held to the provider's rules by the vault: a changed one is unreadable.
      secret = this.deps.vault.decryptNow(owner, serving.provider, serving.key.ciphertext, serving.key.location);
    } catch (err) {
      this.count(owner, serving.provider, 'byok', 'error');
      throw err;
    }
    if (isPending(secret)) {
      secret = secret.catch((err: unknown) => {
        this.count(owner, serving.provider, 'byok', 'error');
        throw err;
      });
    }
    return andThen(secret, (apiKey) => this.deliver(owner, model, serving, apiKey, options));
  }

  private deliver(owner: Owner, model: CatalogueModel, serving: Serving, apiKey: string, options: ResolveOptions): Now<ResolveResult> {
    const stored: DeliveredCredential = { api_key: apiKey, location: serving.key.location, kind: storedKind(serving.provider, apiKey), expires_at: null };
    // Keyless connections always, stored cloud keys on request: a short-lived credential
    // (from the cache without any cloud call while a valid one is cached).
    if (this.deps.shortLived && (options.shortLived || isFederatedSecret(serving.provider, apiKey))) {
      return this.deps.shortLived.get(owner, serving.provider, serving.key, apiKey).then(
        (credential) => this.answer(owner, model, serving, credential ?? stored),
        (err: unknown) => {
          this.count(owner, serving.provider, 'byok', 'error');
          throw err;
        },
      );
    }
    return this.answer(owner, model, serving, stored);
  }

  private answer(owner: Owner, model: CatalogueModel, serving: Serving, credential: DeliveredCredential): ResolveResult {
    this.count(owner, serving.provider, 'byok', 'resolved');
    this.deps.usage?.touch(serving.key.id);
    // One literal of a fixed shape (spreading `base` into it was a visible cost of the
    // hot path in the profiles: an object copy, then a map transition per added field).
    return {
      mode: 'byok',
      resource_type: owner.type,
      resource_id: owner.id,
      neo_model_id: model.id,
      provider: serving.provider,
      provider_model_id: serving.providerModelId,
      credential,
      credential_id: serving.key.id,
      credential_version: serving.key.version,
    };
  }

  /** One counter per call, bounded labels only (never an owner id or the secret); the owner goes to the log. */
  private count(owner: Owner | null, provider: string, mode: ModelUseMode, outcome: Outcome): void {
    this.deps.metrics.countResolve(owner?.type ?? 'unknown', provider, mode, outcome);
  }
}

function preferredId(model: CatalogueModel, provider: ProviderName): string {
  return model.providers[provider]?.[0] ?? model.id;
}
