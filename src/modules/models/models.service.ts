/**
 * What each owner may use: the catalogue seen through the owner's mode, flag and
 * provider keys (CONTRACT.md section 5). Shared by GET /models, GET /user and the
 * credential resolver, so the three always agree.
 *
 * Per owner, the stored mode and key rows (ciphertexts, never plaintext) are cached
 * (src/lib/cache.ts) together with what they serve, computed once per fill. The entry is
 * dropped by the bus topic `owner`, which the BYOK service publishes after every
 * committed key or mode change (and the features service after a flag change), so the
 * next call on this instance sees the change. A load that raced an invalidation is
 * returned to its caller but not cached. A warm lookup reads nothing from the database.
 */
import type { Db, Dialect } from '../../db/index.ts';
import type { KeyStatus, ModelUseMode, OwnerType } from '../../db/schema.ts';
import type { CacheBus } from '../../lib/bus.ts';
import { andThen, Cache, type Now } from '../../lib/cache.ts';
import {
  AUTO_MODEL_ID,
  AUTO_PREFERENCE,
  CATALOGUE,
  findModel,
  providerPreference,
  type CatalogueModel,
  type ModelCapabilities,
} from '../../models/catalogue.ts';
import { chooseProviderModelId, mapListing, mapProviderModel } from '../../models/mapping.ts';
import { isProviderName, type ProviderName } from '../../providers/types.ts';
import { ByokRepo, storedModels, type OwnerSnapshot } from '../byok/byok.repo.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import type { FeaturesService } from '../features/features.service.ts';

/** One stored provider key, as far as serving models is concerned. */
export interface OwnerKey {
  id: string;
  provider: ProviderName;
  location: string | null;
  /** Envelope ciphertext; decrypted per call by the vault, never cached in plaintext. */
  ciphertext: string;
  /** Provider model ids from the last accepted listing; null when never listed. */
  models: string[] | null;
  updatedAt: string;
  /** Key health: resolve skips an `invalid` key (docs/key-health.md). */
  status: KeyStatus;
  /** Changes whenever the secret is replaced (resolve's credential_version). */
  version: number;
  /** When the provider started rejecting it (the streak's first rejection), else the last check. */
  rejectedAt: string | null;
}

/** A provider key that serves a model, and the id to send to that provider. */
export interface Serving {
  provider: ProviderName;
  providerModelId: string;
  key: OwnerKey;
}

/** An entry of `byok_models` in GET /user. */
export interface ByokModelView {
  id: string;
  provider: ProviderName;
  supported: boolean;
  neo_model_id?: string;
  provider_model_id?: string;
  reason?: string;
}

/** The cached per-owner state: stored mode, keys and what they serve. */
export interface OwnerState {
  storedMode: ModelUseMode;
  keys: OwnerKey[];
  /** Neo model id → keys that serve it, in the provider preference order. */
  serving: ReadonlyMap<string, readonly Serving[]>;
  byokModels: ByokModelView[];
}

export interface ModelView {
  id: string;
  name: string;
  family: string;
  context_window: number;
  capabilities: ModelCapabilities;
  available: boolean;
  served_by: string | null;
  reason: string | null;
  /** Only on `auto`: the model it picks for this caller now. */
  resolves_to?: string | null;
}

/** The owner's effective situation: the flag off means `neo` whatever is stored. */
export interface Effective {
  owner: Owner;
  mode: ModelUseMode;
  byokEnabled: boolean;
  /** Loaded only when the flag is on (the stored keys matter only then). */
  state: OwnerState | null;
}

export interface ModelsServiceDeps {
  db: Db;
  dialect: Dialect;
  bus: CacheBus;
  features: FeaturesService;
  clock?: () => number;
  /** Owners kept in the cache (default 50 000). */
  cacheSize?: number;
  /** Safety net for a lost invalidation message (default 60 s). */
  cacheTtlMs?: number;
}

const AUTO_NAME = 'Auto (best available model)';
const OWNER_WORD: Record<OwnerType, string> = { user: 'your account', team: 'your team' };

/** Which of the owner's keys serve which catalogue model (pure; computed once per cache fill). */
export function computeServing(keys: readonly OwnerKey[]): Map<string, Serving[]> {
  const byProvider = new Map<ProviderName, OwnerKey>(keys.map((k) => [k.provider, k] as const));
  // For each key with a listing: Neo model id → the listed ids that map to it.
  const listed = new Map<ProviderName, Map<string, string[]>>();
  for (const k of keys) {
    if (!k.models) continue;
    const m = new Map<string, string[]>();
    for (const id of k.models) {
      const r = mapProviderModel(k.provider, id);
      if (!r.supported) continue;
      const list = m.get(r.neoModelId);
      if (list) list.push(id);
      else m.set(r.neoModelId, [id]);
    }
    listed.set(k.provider, m);
  }
  const out = new Map<string, Serving[]>();
  for (const model of CATALOGUE) {
    const servings: Serving[] = [];
    for (const provider of providerPreference(model)) {
      const key = byProvider.get(provider);
      if (!key) continue;
      let ids: string[] = [];
      if (key.models) {
        ids = listed.get(provider)?.get(model.id) ?? [];
        if (ids.length === 0) continue;
      }
      // A key whose listing is unknown (the check was inconclusive) is assumed to serve
      // the catalogue's models of its provider: docs/runtime-integration.md.
      servings.push({ provider, providerModelId: chooseProviderModelId(model, provider, ids, key.location), key });
    }
    if (servings.length) out.set(model.id, servings);
  }
  return out;
}

/** Every model the owner's providers listed, mapped (GET /user `byok_models`). */
export function computeByokModels(keys: readonly OwnerKey[]): ByokModelView[] {
  const out: ByokModelView[] = [];
  for (const k of [...keys].sort((a, b) => (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0))) {
    if (!k.models) continue;
    const mapped = mapListing(k.provider, k.models).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const m of mapped) {
      const model = m.neo_model_id ? findModel(m.neo_model_id) : undefined;
      out.push(
        model
          ? {
              id: m.id,
              provider: k.provider,
              supported: true,
              neo_model_id: model.id,
              provider_model_id: chooseProviderModelId(model, k.provider, [m.id], k.location),
            }
          : { id: m.id, provider: k.provider, supported: false, reason: m.reason ?? 'not in the Neo model catalogue' },
      );
    }
  }
  return out;
}

export class ModelsService {
  private readonly repo: ByokRepo;
  private readonly cache: Cache<OwnerState>;

  constructor(private readonly deps: ModelsServiceDeps) {
    this.repo = new ByokRepo(deps.db, deps.dialect);
    this.cache = new Cache({ name: 'owner_state', bus: deps.bus, topic: 'owner', max: deps.cacheSize ?? 50_000, ttlMs: deps.cacheTtlMs ?? 60_000 });
  }

  /** The owner's stored mode and keys and what they serve (cached; a load that raced a change is not kept). */
  async ownerState(owner: Owner): Promise<OwnerState> {
    return this.cache.getOrLoad(ownerKey(owner), () => this.load(owner));
  }

  /** Mode, flag and (flag on) keys of an owner. The flag off makes the owner `neo`. */
  async effective(owner: Owner): Promise<Effective> {
    return this.effectiveNow(owner);
  }

  /**
   * As `effective`, the value itself when the flag and the owner's state are cached (the
   * resolve hot path: no promise and no microtask per lookup, src/lib/cache.ts `lookup`).
   */
  effectiveNow(owner: Owner): Now<Effective> {
    const key = ownerKey(owner);
    return andThen(this.deps.features.forOwnerNow(owner, key), (flags): Now<Effective> => {
      if (!flags.byok) return { owner, mode: 'neo', byokEnabled: false, state: null };
      return andThen(this.cache.lookup(key, () => this.load(owner)), (state) => ({ owner, mode: state.storedMode, byokEnabled: true, state }));
    });
  }

  /** The catalogue for this owner now: each model with availability, provider and reason. */
  catalogueView(e: Effective): ModelView[] {
    return [this.autoView(e), ...CATALOGUE.map((m) => this.modelView(e, m))];
  }

  /** One model (or `auto`) for this owner; undefined for an unknown id. */
  modelViewById(e: Effective, id: string): ModelView | undefined {
    if (id === AUTO_MODEL_ID) return this.autoView(e);
    const m = findModel(id);
    return m ? this.modelView(e, m) : undefined;
  }

  /**
   * The key that serves `modelId` for this owner now, in byok mode: the first of the
   * serving keys in preference order that is not `invalid` (a key the provider rejected
   * is skipped for another of the owner's keys, docs/key-health.md). The one rule that
   * resolve, the model list, `available_models` and `auto` all follow.
   */
  servingKey(e: Effective, modelId: string): Serving | undefined {
    return e.state?.serving.get(modelId)?.find((s) => s.key.status !== 'invalid');
  }

  /** Ids of the catalogue models this owner may use now (GET /user `available_models`). */
  availableModelIds(e: Effective): string[] {
    if (e.mode === 'neo') return CATALOGUE.map((m) => m.id);
    return CATALOGUE.filter((m) => this.servingKey(e, m.id)).map((m) => m.id);
  }

  /** The model `auto` picks for this owner now (first of AUTO_PREFERENCE available), or null. */
  autoModel(e: Effective): CatalogueModel | null {
    for (const id of AUTO_PREFERENCE) {
      if (e.mode === 'neo' || this.servingKey(e, id)) return findModel(id) ?? null;
    }
    return null;
  }

  /** Why `model` is unavailable to an owner in byok mode (plain words; names no secret). */
  unavailableReason(e: Effective, model: CatalogueModel): string {
    const rejected = e.state?.serving.get(model.id)?.[0]?.key;
    if (rejected) {
      // Keys serve it, but every one of them is invalid: which provider, since when, what to do.
      const when = rejected.rejectedAt ? ` at ${rejected.rejectedAt}` : '';
      return `BYOK mode: the ${rejected.provider} key that serves ${model.id} was rejected by the provider${when} and is invalid; replace it with PATCH /api/v1/byok/providers/${rejected.provider} (or on the BYOK settings page)`;
    }
    const who = OWNER_WORD[e.owner.type];
    const can = providerPreference(model);
    const have = (e.state?.keys ?? []).map((k) => k.provider).filter((p) => can.includes(p));
    if (have.length === 0) {
      return `BYOK mode: no provider key of ${who} serves ${model.id}; add a key for one of: ${can.join(', ')}`;
    }
    return `BYOK mode: ${model.id} is not in the model list of ${who}'s ${have.join(', ')} key${have.length > 1 ? 's' : ''}`;
  }

  private modelView(e: Effective, m: CatalogueModel): ModelView {
    const base = { id: m.id, name: m.name, family: m.family, context_window: m.context_window, capabilities: { ...m.capabilities } };
    if (e.mode === 'neo') return { ...base, available: true, served_by: 'neo', reason: null };
    const serving = this.servingKey(e, m.id);
    if (serving) return { ...base, available: true, served_by: serving.provider, reason: null };
    return { ...base, available: false, served_by: null, reason: this.unavailableReason(e, m) };
  }

  private autoView(e: Effective): ModelView {
    const picked = this.autoModel(e);
    if (!picked) {
      return {
        id: AUTO_MODEL_ID,
        name: AUTO_NAME,
        family: 'auto',
        context_window: 0,
        capabilities: { tools: false, vision: false, reasoning: false },
        available: false,
        served_by: null,
        reason: `BYOK mode: none of ${OWNER_WORD[e.owner.type]}'s provider keys serves a catalogue model`,
        resolves_to: null,
      };
    }
    const v = this.modelView(e, picked);
    return { ...v, id: AUTO_MODEL_ID, name: AUTO_NAME, family: 'auto', resolves_to: picked.id };
  }

  /** Mode and keys from one snapshot: a state the write path committed, never a mix of two. */
  private async load(owner: Owner): Promise<OwnerState> {
    const { mode: storedMode, keys: rows } = await this.repo.snapshot(owner);
    const keys = rows.filter((r) => isProviderName(r.provider)).map(toOwnerKey);
    return { storedMode, keys, serving: computeServing(keys), byokModels: computeByokModels(keys) };
  }
}

function toOwnerKey(r: OwnerSnapshot['keys'][number]): OwnerKey {
  return {
    id: r.id,
    provider: r.provider as ProviderName,
    location: r.location,
    ciphertext: r.ciphertext,
    models: storedModels(r.models),
    updatedAt: r.updated_at,
    status: r.status,
    version: Number(r.credential_version),
    rejectedAt: r.first_rejected_at ?? r.last_checked_at,
  };
}
