/** The provider registry: one adapter per provider, created once per app. */
import { createAdapter as amazonBedrock } from './amazon-bedrock/index.ts';
import { createAdapter as anthropic } from './anthropic/index.ts';
import { createAdapter as azureFoundry } from './azure-foundry/index.ts';
import { createAdapter as google } from './google/index.ts';
import { createAdapter as googleVertex } from './google-vertex/index.ts';
import { createAdapter as openai } from './openai/index.ts';
import { createAdapter as openrouter } from './openrouter/index.ts';
import { createAdapter as vercelGateway } from './vercel-gateway/index.ts';
import { createAdapter as xai } from './xai/index.ts';
import { PROVIDERS, type ProviderAdapter, type ProviderName } from './types.ts';

export type ProviderRegistry = ReadonlyMap<ProviderName, ProviderAdapter>;

export interface RegistryOptions {
  /** Extra hosts an Azure endpoint may use (test-only NEO_AZURE_ALLOWED_HOSTS). */
  azureAllowedHosts?: string[];
}

export function createProviderRegistry(options: RegistryOptions = {}): ProviderRegistry {
  const adapters: ProviderAdapter[] = [
    openrouter(),
    anthropic(),
    openai(),
    google(),
    xai(),
    vercelGateway(),
    googleVertex(),
    amazonBedrock(),
    azureFoundry({ allowedHosts: options.azureAllowedHosts ?? [] }),
  ];
  const map = new Map(adapters.map((a) => [a.name, a] as const));
  for (const p of PROVIDERS) if (!map.has(p)) throw new Error(`provider ${p} has no adapter`);
  return map;
}
