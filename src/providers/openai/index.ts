/**
 * OpenAI: `GET /v1/models` with `Authorization: Bearer <key>` (PROVIDERS.md).
 * 401 → rejected, except a 401 about missing permissions/scopes (a restricted project
 * key) → restricted; 403 → restricted; 429 `insufficient_quota` → billing, other 429 →
 * rate limited; 5xx, or a 200 that is not the documented `{data: [...]}` → unavailable. OpenAI's 401 body echoes part of the key: it is
 * inspected for its code only and never passed on.
 */
import { commonOutcome, dataIds, failed, getJson, say, str, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { ProviderAdapter } from '../types.ts';

export const OPENAI_URL = 'https://api.openai.com';
const NAME = 'OpenAI';

export function createAdapter(): ProviderAdapter {
  return {
    name: 'openai',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('openai', OPENAI_URL);
      const r = await getJson(ctx, `${base}/v1/models`, { authorization: `Bearer ${cred.apiKey}` });
      if (r.kind === 'failure') return failed(NAME, r.reason);
      const code = str(r.json, 'error', 'code');
      const message = str(r.json, 'error', 'message').toLowerCase();
      if (r.status === 200) {
        const models = dataIds(r.json);
        if (!models) return undocumented(NAME);
        return { outcome: 'accepted', message: say.accepted(NAME, models), models };
      }
      if (r.status === 401) {
        if (message.includes('insufficient permissions') || message.includes('missing scopes')) {
          return { outcome: 'restricted', message: `${NAME} accepted the key, but it lacks the permission to list models (a restricted key); requests may fail` };
        }
        return { outcome: 'rejected', message: say.rejected(NAME) };
      }
      if (r.status === 403) return { outcome: 'restricted', message: say.restricted(NAME) };
      if (r.status === 429 && code === 'insufficient_quota') return { outcome: 'billing', message: say.billing(NAME) };
      return commonOutcome(NAME, r.status) ?? unexpected(NAME, r.status);
    },
  };
}
