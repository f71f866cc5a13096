/**
 * Provider model ids → Neo model ids: the one table of the id forms each provider uses.
 *
 * A provider lists a model under many spellings. Each provider has a normaliser that
 * reduces an id to a lookup key (lower case, without the parts that do not change which
 * model it is); the catalogue's own ids go through the same normaliser to build the
 * index, so a catalogue id always maps to its model and no key can name two models
 * (checked at load time).
 *
 * | provider | forms recognised (→ the same key) |
 * |---|---|
 * | anthropic | `claude-sonnet-4-5`, dated `claude-sonnet-4-5-20250929`, `…-latest` |
 * | openai, azure-foundry | `gpt-5`, dated `gpt-5-2025-08-07` (Azure: deployment/model id) |
 * | google | `gemini-2.5-pro`, `models/gemini-2.5-pro`, versioned `…-001`, `…-latest` |
 * | google-vertex | `claude-sonnet-4-5@20250929`, `gemini-2.5-pro`, `…-001`, `publishers/<p>/models/<id>`, `projects/<p>/locations/<l>/publishers/<p>/models/<id>` |
 * | amazon-bedrock | `anthropic.claude-sonnet-4-5-20250929-v1:0`, context variants `…:0:200k`, inference profiles `us.` `us-gov.` `eu.` `apac.` `jp.` `au.` `ca.` `global.` + id, ARNs of either |
 * | openrouter | `anthropic/claude-sonnet-4.5`, variants `…:free` `:thinking` `:nitro` `:floor` `:online` `:beta` `:extended` `:exacto`, dated `…-20250929` |
 * | vercel-gateway | `anthropic/claude-sonnet-4.5`, `xai/grok-4`, dated forms |
 * | xai | `grok-4`, dated `grok-4-0709`, `…-latest`, `…-beta` |
 *
 * Only the date/version/region/prefix parts are dropped: `gpt-4o-mini` never becomes
 * `gpt-4o`, `grok-4-fast-reasoning` never becomes `grok-4`. An id that matches nothing is
 * kept and reported as unsupported with a reason.
 */
import type { ProviderName } from '../providers/types.ts';
import { CATALOGUE, type CatalogueModel } from './catalogue.ts';

/** Where a provider model id came from, beyond its lookup key. */
export interface IdForm {
  /** The lookup key (lower case, date/version/region/prefix parts removed). */
  key: string;
  /** Bedrock inference profile geography (`us`, `eu`, `apac`, `global`, …), if any. */
  geo?: string;
  /** A serving variant (OpenRouter `:free`, Bedrock `:200k`), if any. */
  variant?: string;
}

export type ModelMapping =
  | { supported: true; neoModelId: string; form: IdForm }
  | { supported: false; reason: string; form: IdForm };

const BEDROCK_GEOS = ['global', 'us-gov', 'us', 'eu', 'apac', 'jp', 'au', 'ca'] as const;
const BEDROCK_GEO_RE = new RegExp(`^(${BEDROCK_GEOS.join('|')})\\.`);
const OPENROUTER_VARIANT_RE = /:(free|thinking|nitro|floor|online|beta|extended|exacto)$/;

const stripDate8 = (s: string) => s.replace(/-\d{8}$/, '');
const stripIsoDate = (s: string) => s.replace(/-\d{4}-\d{2}-\d{2}$/, '');

/** Reduces a provider model id to its lookup key and form. Pure; never throws. */
export function normalizeModelId(provider: ProviderName, providerModelId: string): IdForm {
  let s = providerModelId.trim().toLowerCase();
  switch (provider) {
    case 'anthropic':
      s = stripDate8(s.replace(/-latest$/, ''));
      return { key: s };
    case 'openai':
    case 'azure-foundry':
      return { key: stripIsoDate(s) };
    case 'google':
      s = s.replace(/^models\//, '').replace(/-latest$/, '').replace(/-\d{3}$/, '');
      return { key: s };
    case 'google-vertex':
      s = s
        .replace(/^projects\/[^/]+\/locations\/[^/]+\//, '')
        .replace(/^publishers\/[^/]+\/models\//, '')
        .replace(/^models\//, '')
        .replace(/@[a-z0-9.-]+$/, '')
        .replace(/-\d{3}$/, '');
      return { key: stripDate8(s) };
    case 'amazon-bedrock': {
      // ARNs: arn:aws:bedrock:<region>:<acct>:foundation-model/<id> or …:inference-profile/<id>
      if (s.startsWith('arn:')) s = s.slice(s.lastIndexOf('/') + 1);
      let geo: string | undefined;
      const g = BEDROCK_GEO_RE.exec(s);
      if (g) {
        geo = g[1];
        s = s.slice(g[0].length);
      }
      let variant: string | undefined;
      const v = /:(\d+k)$/.exec(s);
      if (v) {
        variant = v[1];
        s = s.slice(0, -v[0].length);
      }
      s = stripDate8(s.replace(/-v\d+(:\d+)?$/, ''));
      return { key: s, ...(geo ? { geo } : {}), ...(variant ? { variant } : {}) };
    }
    case 'openrouter': {
      let variant: string | undefined;
      const v = OPENROUTER_VARIANT_RE.exec(s);
      if (v) {
        variant = v[1];
        s = s.slice(0, -v[0].length);
      }
      return { key: stripIsoDate(stripDate8(s)), ...(variant ? { variant } : {}) };
    }
    case 'vercel-gateway':
      return { key: stripIsoDate(stripDate8(s)) };
    case 'xai':
      return { key: s.replace(/-(latest|beta)$/, '').replace(/-\d{4}$/, '') };
  }
}

/** provider → lookup key → Neo model id, built from the catalogue through the normalisers. */
function buildIndex(models: readonly CatalogueModel[]): Map<ProviderName, Map<string, string>> {
  const index = new Map<ProviderName, Map<string, string>>();
  for (const m of models) {
    for (const [provider, ids] of Object.entries(m.providers) as [ProviderName, readonly string[]][]) {
      let byKey = index.get(provider);
      if (!byKey) index.set(provider, (byKey = new Map()));
      for (const id of ids) {
        const { key } = normalizeModelId(provider, id);
        const prev = byKey.get(key);
        if (prev && prev !== m.id) {
          throw new Error(`model mapping conflict: ${provider} "${id}" maps to both ${prev} and ${m.id}`);
        }
        byKey.set(key, m.id);
      }
    }
  }
  return index;
}

const INDEX = buildIndex(CATALOGUE);

/** Why Neo does not support a listed model (plain words for the user). */
function unsupportedReason(id: string): string {
  const s = id.toLowerCase();
  if (/embed/.test(s)) return 'embedding model: Neo agents need a chat model';
  if (/(dall-e|image|flux|stable-diffusion|nova-canvas|nova-reel|veo|sora)/.test(s)) {
    return 'image or video generation model: Neo agents need a chat model';
  }
  if (/(whisper|tts|audio|realtime|transcribe|speech|sonic)/.test(s)) return 'audio or speech model: Neo agents need a chat model';
  if (/(moderation|guard)/.test(s)) return 'moderation model: Neo agents need a chat model';
  if (/rerank/.test(s)) return 'reranking model: Neo agents need a chat model';
  if (/(preview|-exp\b|experimental)/.test(s)) return 'preview or experimental snapshot: Neo supports the stable release only';
  return 'not in the Neo model catalogue';
}

/** Maps one provider model id (any recognised form) to a Neo model id, or says why not. */
export function mapProviderModel(provider: ProviderName, providerModelId: string): ModelMapping {
  const form = normalizeModelId(provider, providerModelId);
  const neoModelId = INDEX.get(provider)?.get(form.key);
  if (neoModelId) return { supported: true, neoModelId, form };
  return { supported: false, reason: unsupportedReason(providerModelId), form };
}

/**
 * The Bedrock inference-profile geography for an AWS region: `us-gov`, `us`, `eu`,
 * `apac`, else `global` (which AWS serves from any commercial region).
 */
export function bedrockGeo(region: string | null | undefined): string {
  const r = (region ?? 'us-east-1').toLowerCase();
  if (r.startsWith('us-gov-')) return 'us-gov';
  if (r.startsWith('us-')) return 'us';
  if (r.startsWith('eu-')) return 'eu';
  if (r.startsWith('ap-')) return 'apac';
  return 'global';
}

function catalogueRank(model: CatalogueModel, provider: ProviderName, id: string): number {
  const listed = model.providers[provider] ?? [];
  const i = listed.indexOf(id);
  return i >= 0 ? i : 100;
}

/** Deterministic best-first order of several ids of one model on one provider. */
function compareCandidates(model: CatalogueModel, provider: ProviderName) {
  return (a: string, b: string): number => {
    const fa = normalizeModelId(provider, a);
    const fb = normalizeModelId(provider, b);
    const va = fa.variant ? 1 : 0;
    const vb = fb.variant ? 1 : 0;
    if (va !== vb) return va - vb;
    const ra = catalogueRank(model, provider, a);
    const rb = catalogueRank(model, provider, b);
    if (ra !== rb) return ra - rb;
    // Both unlisted: the later snapshot first (dates sort lexicographically), then by id.
    return a < b ? 1 : a > b ? -1 : 0;
  };
}

/**
 * The provider model id the agent runtime should send for `model` on `provider`.
 *
 * `discovered` are the ids of that provider's listing that map to `model` (empty when
 * the key's list is unknown: the catalogue's preferred id is used). Plain forms beat
 * variants, catalogue-preferred forms beat other spellings, later snapshots beat
 * earlier ones. On Bedrock, models that need a cross-region inference profile get the
 * profile of the key's region (`location`): a listed profile of that geography, else a
 * listed `global.` profile, else the region's geography prefixed to the model id.
 */
export function chooseProviderModelId(
  model: CatalogueModel,
  provider: ProviderName,
  discovered: readonly string[],
  location: string | null,
): string {
  const preferred = model.providers[provider]?.[0];
  const sorted = [...discovered].sort(compareCandidates(model, provider));
  if (provider !== 'amazon-bedrock') return sendable(provider, sorted[0] ?? preferred ?? model.id);

  const geo = bedrockGeo(location);
  const withGeo = (g: string) => sorted.find((id) => normalizeModelId(provider, id).geo === g);
  const bases = sorted.filter((id) => normalizeModelId(provider, id).geo === undefined);
  const base = stripArn(bases[0] ?? preferred ?? model.id);
  if (!model.bedrockInferenceProfile) return bases[0] ?? withGeo(geo) ?? withGeo('global') ?? sorted[0] ?? base;
  return withGeo(geo) ?? withGeo('global') ?? `${geo}.${base}`;
}

/**
 * The form SDKs take: Google and Vertex resource names are reduced to the model id
 * (`models/gemini-2.5-pro` → `gemini-2.5-pro`, `publishers/anthropic/models/x@d` → `x@d`).
 */
function sendable(provider: ProviderName, id: string): string {
  if (provider === 'google') return id.replace(/^models\//, '');
  if (provider === 'google-vertex') return id.replace(/^projects\/[^/]+\/locations\/[^/]+\//, '').replace(/^publishers\/[^/]+\/models\//, '');
  return id;
}

function stripArn(id: string): string {
  return id.startsWith('arn:') ? id.slice(id.lastIndexOf('/') + 1) : id;
}

export interface DiscoveredModel {
  /** The id as the provider listed it. */
  id: string;
  provider: ProviderName;
  supported: boolean;
  neo_model_id?: string;
  reason?: string;
}

/** Maps a provider's whole listing (order kept, duplicates dropped). */
export function mapListing(provider: ProviderName, ids: readonly string[]): DiscoveredModel[] {
  const seen = new Set<string>();
  const out: DiscoveredModel[] = [];
  for (const id of ids) {
    if (typeof id !== 'string' || id === '' || seen.has(id)) continue;
    seen.add(id);
    const m = mapProviderModel(provider, id);
    out.push(
      m.supported
        ? { id, provider, supported: true, neo_model_id: m.neoModelId }
        : { id, provider, supported: false, reason: m.reason },
    );
  }
  return out;
}
