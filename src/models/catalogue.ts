/**
 * The Neo model catalogue: every model id Neo accepts, what it can do, and, per
 * provider, the provider model ids that serve it.
 *
 * Rules of this file (checked by src/models/catalogue.test.ts):
 * - Neo ids are lower case `[a-z0-9-]` only: dots of vendor names become dashes
 *   (`gemini-2.5-pro` → `gemini-2-5-pro`, `gpt-4.1` → `gpt-4-1`).
 * - `vendor` is the model's first-party provider; it is listed in `providers`.
 * - In each provider's list the FIRST id is the preferred one: the id Neo hands to the
 *   agent runtime when the owner's key did not report a more specific form (and the id
 *   used in `neo` mode for the vendor). Other entries are further forms that the same
 *   provider documents for the model; src/models/mapping.ts also recognises dated,
 *   regional and prefixed forms that are not written out here.
 * - Azure AI Foundry ids are deployment names; Neo assumes the default deployment name,
 *   which is the model id (docs/runtime-integration.md).
 */
import type { ProviderName } from '../providers/types.ts';

export type Vendor = 'anthropic' | 'openai' | 'google' | 'xai';

export interface ModelCapabilities {
  tools: boolean;
  vision: boolean;
  reasoning: boolean;
}

export interface CatalogueModel {
  id: string;
  name: string;
  family: string;
  vendor: Vendor;
  context_window: number;
  capabilities: ModelCapabilities;
  /** Provider model ids per provider; the first of each list is preferred. */
  providers: Partial<Record<ProviderName, readonly string[]>>;
  /**
   * Bedrock serves this model on demand only through a cross-region inference profile
   * (`us.`, `eu.`, `apac.`, `global.` + the model id), not by its bare model id.
   */
  bedrockInferenceProfile?: boolean;
}

/** The alias that picks the best available model for the caller (AUTO_PREFERENCE). */
export const AUTO_MODEL_ID = 'auto';

const ALL = { tools: true, vision: true, reasoning: true } as const;

export const CATALOGUE: readonly CatalogueModel[] = [
  // ---- Anthropic Claude -------------------------------------------------------------
  {
    id: 'claude-opus-4-1',
    name: 'Claude Opus 4.1',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-opus-4-1-20250805', 'claude-opus-4-1'],
      'amazon-bedrock': ['anthropic.claude-opus-4-1-20250805-v1:0'],
      'google-vertex': ['claude-opus-4-1@20250805', 'claude-opus-4-1'],
      'azure-foundry': ['claude-opus-4-1'],
      openrouter: ['anthropic/claude-opus-4.1'],
      'vercel-gateway': ['anthropic/claude-opus-4.1'],
    },
  },
  {
    id: 'claude-opus-4',
    name: 'Claude Opus 4',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-opus-4-20250514', 'claude-opus-4-0'],
      'amazon-bedrock': ['anthropic.claude-opus-4-20250514-v1:0'],
      'google-vertex': ['claude-opus-4@20250514'],
      openrouter: ['anthropic/claude-opus-4'],
      'vercel-gateway': ['anthropic/claude-opus-4'],
    },
  },
  {
    id: 'claude-sonnet-4-5',
    name: 'Claude Sonnet 4.5',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
      'amazon-bedrock': ['anthropic.claude-sonnet-4-5-20250929-v1:0'],
      'google-vertex': ['claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
      'azure-foundry': ['claude-sonnet-4-5'],
      openrouter: ['anthropic/claude-sonnet-4.5'],
      'vercel-gateway': ['anthropic/claude-sonnet-4.5'],
    },
  },
  {
    id: 'claude-sonnet-4',
    name: 'Claude Sonnet 4',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-sonnet-4-20250514', 'claude-sonnet-4-0'],
      'amazon-bedrock': ['anthropic.claude-sonnet-4-20250514-v1:0'],
      'google-vertex': ['claude-sonnet-4@20250514'],
      openrouter: ['anthropic/claude-sonnet-4'],
      'vercel-gateway': ['anthropic/claude-sonnet-4'],
    },
  },
  {
    id: 'claude-haiku-4-5',
    name: 'Claude Haiku 4.5',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-haiku-4-5-20251001', 'claude-haiku-4-5'],
      'amazon-bedrock': ['anthropic.claude-haiku-4-5-20251001-v1:0'],
      'google-vertex': ['claude-haiku-4-5@20251001', 'claude-haiku-4-5'],
      'azure-foundry': ['claude-haiku-4-5'],
      openrouter: ['anthropic/claude-haiku-4.5'],
      'vercel-gateway': ['anthropic/claude-haiku-4.5'],
    },
  },
  {
    id: 'claude-3-7-sonnet',
    name: 'Claude Sonnet 3.7',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: ALL,
    bedrockInferenceProfile: true,
    providers: {
      anthropic: ['claude-3-7-sonnet-20250219', 'claude-3-7-sonnet-latest'],
      'amazon-bedrock': ['anthropic.claude-3-7-sonnet-20250219-v1:0'],
      'google-vertex': ['claude-3-7-sonnet@20250219'],
      openrouter: ['anthropic/claude-3.7-sonnet'],
      'vercel-gateway': ['anthropic/claude-3.7-sonnet'],
    },
  },
  {
    id: 'claude-3-5-haiku',
    name: 'Claude Haiku 3.5',
    family: 'claude',
    vendor: 'anthropic',
    context_window: 200_000,
    capabilities: { tools: true, vision: false, reasoning: false },
    providers: {
      anthropic: ['claude-3-5-haiku-20241022', 'claude-3-5-haiku-latest'],
      'amazon-bedrock': ['anthropic.claude-3-5-haiku-20241022-v1:0'],
      'google-vertex': ['claude-3-5-haiku@20241022'],
      openrouter: ['anthropic/claude-3.5-haiku'],
      'vercel-gateway': ['anthropic/claude-3.5-haiku'],
    },
  },

  // ---- OpenAI GPT and o-series -----------------------------------------------------
  {
    id: 'gpt-5',
    name: 'GPT-5',
    family: 'gpt',
    vendor: 'openai',
    context_window: 400_000,
    capabilities: ALL,
    providers: {
      openai: ['gpt-5', 'gpt-5-2025-08-07'],
      'azure-foundry': ['gpt-5', 'gpt-5-2025-08-07'],
      openrouter: ['openai/gpt-5'],
      'vercel-gateway': ['openai/gpt-5'],
    },
  },
  {
    id: 'gpt-5-mini',
    name: 'GPT-5 mini',
    family: 'gpt',
    vendor: 'openai',
    context_window: 400_000,
    capabilities: ALL,
    providers: {
      openai: ['gpt-5-mini', 'gpt-5-mini-2025-08-07'],
      'azure-foundry': ['gpt-5-mini', 'gpt-5-mini-2025-08-07'],
      openrouter: ['openai/gpt-5-mini'],
      'vercel-gateway': ['openai/gpt-5-mini'],
    },
  },
  {
    id: 'gpt-5-nano',
    name: 'GPT-5 nano',
    family: 'gpt',
    vendor: 'openai',
    context_window: 400_000,
    capabilities: ALL,
    providers: {
      openai: ['gpt-5-nano', 'gpt-5-nano-2025-08-07'],
      'azure-foundry': ['gpt-5-nano', 'gpt-5-nano-2025-08-07'],
      openrouter: ['openai/gpt-5-nano'],
      'vercel-gateway': ['openai/gpt-5-nano'],
    },
  },
  {
    id: 'gpt-4-1',
    name: 'GPT-4.1',
    family: 'gpt',
    vendor: 'openai',
    context_window: 1_047_576,
    capabilities: { tools: true, vision: true, reasoning: false },
    providers: {
      openai: ['gpt-4.1', 'gpt-4.1-2025-04-14'],
      'azure-foundry': ['gpt-4.1', 'gpt-4.1-2025-04-14'],
      openrouter: ['openai/gpt-4.1'],
      'vercel-gateway': ['openai/gpt-4.1'],
    },
  },
  {
    id: 'gpt-4-1-mini',
    name: 'GPT-4.1 mini',
    family: 'gpt',
    vendor: 'openai',
    context_window: 1_047_576,
    capabilities: { tools: true, vision: true, reasoning: false },
    providers: {
      openai: ['gpt-4.1-mini', 'gpt-4.1-mini-2025-04-14'],
      'azure-foundry': ['gpt-4.1-mini', 'gpt-4.1-mini-2025-04-14'],
      openrouter: ['openai/gpt-4.1-mini'],
      'vercel-gateway': ['openai/gpt-4.1-mini'],
    },
  },
  {
    id: 'gpt-4o',
    name: 'GPT-4o',
    family: 'gpt',
    vendor: 'openai',
    context_window: 128_000,
    capabilities: { tools: true, vision: true, reasoning: false },
    providers: {
      openai: ['gpt-4o', 'gpt-4o-2024-11-20', 'gpt-4o-2024-08-06'],
      'azure-foundry': ['gpt-4o', 'gpt-4o-2024-11-20'],
      openrouter: ['openai/gpt-4o'],
      'vercel-gateway': ['openai/gpt-4o'],
    },
  },
  {
    id: 'o3',
    name: 'o3',
    family: 'o-series',
    vendor: 'openai',
    context_window: 200_000,
    capabilities: ALL,
    providers: {
      openai: ['o3', 'o3-2025-04-16'],
      'azure-foundry': ['o3', 'o3-2025-04-16'],
      openrouter: ['openai/o3'],
      'vercel-gateway': ['openai/o3'],
    },
  },
  {
    id: 'o4-mini',
    name: 'o4-mini',
    family: 'o-series',
    vendor: 'openai',
    context_window: 200_000,
    capabilities: ALL,
    providers: {
      openai: ['o4-mini', 'o4-mini-2025-04-16'],
      'azure-foundry': ['o4-mini', 'o4-mini-2025-04-16'],
      openrouter: ['openai/o4-mini'],
      'vercel-gateway': ['openai/o4-mini'],
    },
  },

  // ---- Google Gemini ---------------------------------------------------------------
  {
    id: 'gemini-2-5-pro',
    name: 'Gemini 2.5 Pro',
    family: 'gemini',
    vendor: 'google',
    context_window: 1_048_576,
    capabilities: ALL,
    providers: {
      google: ['gemini-2.5-pro'],
      'google-vertex': ['gemini-2.5-pro'],
      openrouter: ['google/gemini-2.5-pro'],
      'vercel-gateway': ['google/gemini-2.5-pro'],
    },
  },
  {
    id: 'gemini-2-5-flash',
    name: 'Gemini 2.5 Flash',
    family: 'gemini',
    vendor: 'google',
    context_window: 1_048_576,
    capabilities: ALL,
    providers: {
      google: ['gemini-2.5-flash'],
      'google-vertex': ['gemini-2.5-flash'],
      openrouter: ['google/gemini-2.5-flash'],
      'vercel-gateway': ['google/gemini-2.5-flash'],
    },
  },
  {
    id: 'gemini-2-5-flash-lite',
    name: 'Gemini 2.5 Flash-Lite',
    family: 'gemini',
    vendor: 'google',
    context_window: 1_048_576,
    capabilities: ALL,
    providers: {
      google: ['gemini-2.5-flash-lite'],
      'google-vertex': ['gemini-2.5-flash-lite'],
      openrouter: ['google/gemini-2.5-flash-lite'],
      'vercel-gateway': ['google/gemini-2.5-flash-lite'],
    },
  },

  // ---- xAI Grok --------------------------------------------------------------------
  {
    id: 'grok-4',
    name: 'Grok 4',
    family: 'grok',
    vendor: 'xai',
    context_window: 256_000,
    capabilities: ALL,
    providers: {
      xai: ['grok-4', 'grok-4-0709', 'grok-4-latest'],
      openrouter: ['x-ai/grok-4'],
      'vercel-gateway': ['xai/grok-4'],
    },
  },
  {
    id: 'grok-code-fast-1',
    name: 'Grok Code Fast 1',
    family: 'grok',
    vendor: 'xai',
    context_window: 256_000,
    capabilities: { tools: true, vision: false, reasoning: true },
    providers: {
      xai: ['grok-code-fast-1'],
      openrouter: ['x-ai/grok-code-fast-1'],
      'vercel-gateway': ['xai/grok-code-fast-1'],
    },
  },
  {
    id: 'grok-3',
    name: 'Grok 3',
    family: 'grok',
    vendor: 'xai',
    context_window: 131_072,
    capabilities: { tools: true, vision: false, reasoning: false },
    providers: {
      xai: ['grok-3', 'grok-3-latest', 'grok-3-beta'],
      'azure-foundry': ['grok-3'],
      openrouter: ['x-ai/grok-3'],
      'vercel-gateway': ['xai/grok-3'],
    },
  },
  {
    id: 'grok-3-mini',
    name: 'Grok 3 Mini',
    family: 'grok',
    vendor: 'xai',
    context_window: 131_072,
    capabilities: { tools: true, vision: false, reasoning: true },
    providers: {
      xai: ['grok-3-mini', 'grok-3-mini-latest', 'grok-3-mini-beta'],
      'azure-foundry': ['grok-3-mini'],
      openrouter: ['x-ai/grok-3-mini'],
      'vercel-gateway': ['xai/grok-3-mini'],
    },
  },
];

/**
 * The order in which `auto` picks a model: the first one available to the caller wins.
 * Strong general agentic models first, across vendors, then smaller/faster ones, so an
 * owner with a key for only one vendor still gets that vendor's best model.
 */
export const AUTO_PREFERENCE: readonly string[] = [
  'claude-sonnet-4-5',
  'gpt-5',
  'gemini-2-5-pro',
  'claude-opus-4-1',
  'grok-4',
  'claude-sonnet-4',
  'claude-opus-4',
  'o3',
  'gpt-4-1',
  'claude-3-7-sonnet',
  'claude-haiku-4-5',
  'gpt-5-mini',
  'gemini-2-5-flash',
  'o4-mini',
  'grok-code-fast-1',
  'grok-3',
  'gpt-4o',
  'gpt-4-1-mini',
  'grok-3-mini',
  'gemini-2-5-flash-lite',
  'gpt-5-nano',
  'claude-3-5-haiku',
];

/** Cloud platforms, in the order Neo prefers them after the model's first-party provider. */
export const CLOUD_PROVIDERS: readonly ProviderName[] = ['amazon-bedrock', 'google-vertex', 'azure-foundry'];
/** Gateways, preferred last: they add a hop and their own billing. */
export const GATEWAY_PROVIDERS: readonly ProviderName[] = ['openrouter', 'vercel-gateway'];

/**
 * The providers that may serve `model`, in Neo's deterministic preference order: the
 * model's first-party provider, then the cloud platforms, then the gateways.
 */
export function providerPreference(model: CatalogueModel): ProviderName[] {
  const order: ProviderName[] = [model.vendor, ...CLOUD_PROVIDERS, ...GATEWAY_PROVIDERS];
  return order.filter((p) => (model.providers[p]?.length ?? 0) > 0);
}

const BY_ID = new Map(CATALOGUE.map((m) => [m.id, m] as const));

/** The catalogue entry for a Neo model id (not `auto`), or undefined. */
export function findModel(id: string): CatalogueModel | undefined {
  return BY_ID.get(id);
}
