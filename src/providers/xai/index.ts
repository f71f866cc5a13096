/**
 * xAI: `GET /v1/api-key` (information about the calling key) with `Authorization:
 * Bearer`, then `GET /v1/models` for the list (PROVIDERS.md). 400/401 → rejected, and
 * so is a 200 whose `api_key_blocked`, `api_key_disabled` or `team_blocked` is true;
 * 403 → restricted; 429 → rate limited; 5xx, or a 200 that does not describe a key (no
 * `api_key_id` / `redacted_api_key`) → unavailable.
 */
import { commonOutcome, dataIds, failed, field, getJson, isObject, say, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { ProviderAdapter } from '../types.ts';

export const XAI_URL = 'https://api.x.ai';
const NAME = 'xAI';

export function createAdapter(): ProviderAdapter {
  return {
    name: 'xai',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('xai', XAI_URL);
      const headers = { authorization: `Bearer ${cred.apiKey}` };
      const info = await getJson(ctx, `${base}/v1/api-key`, headers);
      if (info.kind === 'failure') return failed(NAME, info.reason);
      if (info.status === 400 || info.status === 401) return { outcome: 'rejected', message: say.rejected(NAME) };
      if (info.status === 403) return { outcome: 'restricted', message: say.restricted(NAME) };
      if (info.status !== 200) return commonOutcome(NAME, info.status) ?? unexpected(NAME, info.status);
      // The documented answer describes the calling key (`api_key_id`, `redacted_api_key`, …).
      if (!isObject(info.json) || (typeof info.json.api_key_id !== 'string' && typeof info.json.redacted_api_key !== 'string')) {
        return undocumented(NAME);
      }
      if (field(info.json, 'team_blocked') === true) {
        return { outcome: 'rejected', message: `${NAME} reports the team of this key as blocked` };
      }
      if (field(info.json, 'api_key_blocked') === true || field(info.json, 'api_key_disabled') === true) {
        return { outcome: 'rejected', message: `${NAME} reports this key as blocked or disabled` };
      }
      const list = await getJson(ctx, `${base}/v1/models`, headers);
      if (list.kind === 'response' && list.status === 200) {
        const models = dataIds(list.json) ?? [];
        return { outcome: 'accepted', message: say.accepted(NAME, models), models };
      }
      if (list.kind === 'response' && list.status === 403) {
        return { outcome: 'restricted', message: `${NAME} accepted the key, but it may not list models (missing permission); some requests may fail` };
      }
      // The key itself is proven; only the list is missing.
      return { outcome: 'accepted', message: `${say.accepted(NAME)}; its model list could not be read` };
    },
  };
}
