/**
 * Vercel AI Gateway: `GET /v1/credits` with `Authorization: Bearer` proves the key,
 * then `GET /v1/models` lists models (PROVIDERS.md). 401 → rejected; 403 → restricted;
 * a `balance` ≤ 0 → billing; 429 → rate limited; 5xx, or a 200 without a numeric
 * `balance` → unavailable.
 */
import { commonOutcome, dataIds, failed, field, getJson, say, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { ProviderAdapter } from '../types.ts';

export const VERCEL_GATEWAY_URL = 'https://ai-gateway.vercel.sh';
const NAME = 'Vercel AI Gateway';

export function createAdapter(): ProviderAdapter {
  return {
    name: 'vercel-gateway',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('vercel-gateway', VERCEL_GATEWAY_URL);
      const headers = { authorization: `Bearer ${cred.apiKey}` };
      const r = await getJson(ctx, `${base}/v1/credits`, headers);
      if (r.kind === 'failure') return failed(NAME, r.reason);
      if (r.status === 401) return { outcome: 'rejected', message: say.rejected(NAME) };
      if (r.status === 403) return { outcome: 'restricted', message: say.restricted(NAME) };
      if (r.status === 402) return { outcome: 'billing', message: say.billing(NAME) };
      if (r.status !== 200) return commonOutcome(NAME, r.status) ?? unexpected(NAME, r.status);
      const raw = field(r.json, 'balance');
      const balance = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      // The documented answer is `{balance, total_used}`; anything else proves nothing.
      if (!Number.isFinite(balance)) return undocumented(NAME);
      const list = await getJson(ctx, `${base}/v1/models`, headers);
      const models = list.kind === 'response' && list.status === 200 ? dataIds(list.json) : undefined;
      const withModels = models ? { models } : {};
      if (balance <= 0) {
        return { outcome: 'billing', message: `${NAME} accepted the key, but the team has no credit left; requests will fail until credit is added`, ...withModels };
      }
      if (!models) return { outcome: 'accepted', message: `${say.accepted(NAME)}; its model list could not be read` };
      return { outcome: 'accepted', message: say.accepted(NAME, models), models };
    },
  };
}
