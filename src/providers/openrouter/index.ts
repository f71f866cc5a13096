/**
 * OpenRouter: `GET /api/v1/key` with `Authorization: Bearer` proves the key
 * (`/api/v1/models` needs no authentication, so it proves nothing). 401 → rejected, and
 * so is a 200 whose `is_management_key` is true (a management key cannot call models);
 * a 200 without the documented `{data: {...}}` → unavailable;
 * 402, or a 200 whose `limit_remaining` is ≤ 0 → billing; 429 → rate limited; 5xx →
 * unavailable. The model list then comes from the public `GET /api/v1/models`, called
 * without the key (it is not needed there); if that call fails the key is still
 * accepted, without a list.
 */
import { commonOutcome, dataIds, failed, field, getJson, isObject, say, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { ProviderAdapter } from '../types.ts';

export const OPENROUTER_URL = 'https://openrouter.ai';
const NAME = 'OpenRouter';

export function createAdapter(): ProviderAdapter {
  return {
    name: 'openrouter',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('openrouter', OPENROUTER_URL);
      const r = await getJson(ctx, `${base}/api/v1/key`, { authorization: `Bearer ${cred.apiKey}` });
      if (r.kind === 'failure') return failed(NAME, r.reason);
      if (r.status === 401) return { outcome: 'rejected', message: say.rejected(NAME) };
      if (r.status === 402) return { outcome: 'billing', message: say.billing(NAME) };
      if (r.status === 403) return { outcome: 'restricted', message: say.restricted(NAME) };
      if (r.status !== 200) return commonOutcome(NAME, r.status) ?? unexpected(NAME, r.status);
      if (!isObject(field(r.json, 'data'))) return undocumented(NAME);
      // A management (provisioning) key manages other keys and cannot call models.
      if (field(r.json, 'data', 'is_management_key') === true || field(r.json, 'data', 'is_provisioning_key') === true) {
        return {
          outcome: 'rejected',
          message: `${NAME} says this is a management key, which can manage keys but cannot call models; create an inference API key (Settings → API Keys) and use that`,
        };
      }
      const remaining = field(r.json, 'data', 'limit_remaining');
      if (typeof remaining === 'number' && remaining <= 0) {
        return { outcome: 'billing', message: `${NAME} accepted the key, but its credit limit is used up; requests will fail until the limit is raised` };
      }
      const list = await getJson(ctx, `${base}/api/v1/models`, {});
      const models = list.kind === 'response' && list.status === 200 ? dataIds(list.json) : undefined;
      if (!models) return { outcome: 'accepted', message: `${say.accepted(NAME)}; its model list could not be read` };
      return { outcome: 'accepted', message: say.accepted(NAME, models), models };
    },
  };
}
