// PLACEHOLDER — replaced by the adapter's real implementation (do not ship).
import type { ProviderAdapter } from '../types.ts';

export function createAdapter(): ProviderAdapter {
  return {
    name: 'vercel-gateway',
    displayName: 'vercel-gateway',
    liveCheck: false,
    prepare: ({ apiKey, location }) => ({ apiKey, location: location ?? null, keyHint: '…' }),
    check: async () => ({ outcome: 'unchecked', message: 'no live check exists yet for this provider' }),
  };
}
