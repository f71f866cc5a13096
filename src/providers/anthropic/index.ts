/**
 * Anthropic: `GET /v1/models?limit=1000` with `Authorization: Bearer <key>` and
 * `anthropic-version: 2026-10-21`, what the current official SDK (`@anthropic-ai/sdk`
 * 1.x) sends (PROVIDERS.md; the older `x-api-key` + `2023-06-01` pair may be unavailable
 * to new organisations, and the two headers change together). 401 `authentication_error` → rejected; 403
 * `permission_error` → restricted; 402 `billing_error` → billing; 429 → rate limited;
 * 529 (overloaded), 5xx and a 200 that is not the documented `{data: [...]}` → unavailable. Further pages are followed with `after_id`.
 */
import { commonOutcome, dataIds, failed, field, getJson, say, str, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { ProviderAdapter } from '../types.ts';

export const ANTHROPIC_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2026-10-21';
const NAME = 'Anthropic';
const MAX_PAGES = 5;

export function createAdapter(): ProviderAdapter {
  return {
    name: 'anthropic',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('anthropic', ANTHROPIC_URL);
      const headers = { authorization: `Bearer ${cred.apiKey}`, 'anthropic-version': ANTHROPIC_VERSION };
      const models: string[] = [];
      let after = '';
      for (let page = 0; page < MAX_PAGES; page++) {
        const url = `${base}/v1/models?limit=1000${after ? `&after_id=${encodeURIComponent(after)}` : ''}`;
        const r = await getJson(ctx, url, headers);
        if (r.kind === 'failure') {
          if (page === 0) return failed(NAME, r.reason);
          break; // the key is proven; a later page failing only shortens the list
        }
        if (r.status !== 200) {
          if (page > 0) break;
          const type = str(r.json, 'error', 'type');
          if (r.status === 401 || type === 'authentication_error') return { outcome: 'rejected', message: say.rejected(NAME) };
          if (r.status === 403 || type === 'permission_error') return { outcome: 'restricted', message: say.restricted(NAME) };
          if (r.status === 402 || type === 'billing_error') return { outcome: 'billing', message: say.billing(NAME) };
          if (r.status === 529) return { outcome: 'unavailable', message: `${NAME} is overloaded, so the key could not be verified; try again later` };
          return commonOutcome(NAME, r.status) ?? unexpected(NAME, r.status);
        }
        const ids = dataIds(r.json);
        if (!ids) {
          if (page === 0) return undocumented(NAME);
          break;
        }
        models.push(...ids);
        const last = str(r.json, 'last_id');
        if (field(r.json, 'has_more') !== true || !last) break;
        after = last;
      }
      return { outcome: 'accepted', message: say.accepted(NAME, models), models };
    },
  };
}
