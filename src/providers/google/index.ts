/**
 * Google AI Studio (Gemini API): `GET /v1beta/models?pageSize=1000` with
 * `x-goog-api-key` (PROVIDERS.md). Google answers a bad key with **400** and reason
 * `API_KEY_INVALID` → rejected; 400 `FAILED_PRECONDITION` (billing/region) → billing;
 * a 403 for a key that Google reports as leaked (Google blocks it for good) → rejected;
 * other 403 `PERMISSION_DENIED` (API disabled, key restrictions) → restricted; 429
 * `RESOURCE_EXHAUSTED` → rate limited; 5xx, or a 200 that is not the documented
 * `{models: [...]}` → unavailable. Model names lose their `models/` prefix.
 */
import { commonOutcome, failed, field, getJson, say, str, undocumented, unexpected } from '../outbound.ts';
import { prepareApiKey } from '../key-based.ts';
import type { CheckResult, ProviderAdapter } from '../types.ts';

export const GOOGLE_URL = 'https://generativelanguage.googleapis.com';
const NAME = 'Google AI Studio';
const MAX_PAGES = 5;

/** The `reason`s in a google.rpc.Status error's details (ErrorInfo). */
function reasons(json: unknown): string[] {
  const details = field(json, 'error', 'details');
  if (!Array.isArray(details)) return [];
  return details.map((d) => str(d, 'reason')).filter(Boolean);
}

function classify(status: number, json: unknown): CheckResult {
  const rpc = str(json, 'error', 'status');
  const why = reasons(json);
  const message = str(json, 'error', 'message').toLowerCase();
  if (why.includes('API_KEY_INVALID') || why.includes('API_KEY_EXPIRED') || status === 401) {
    return { outcome: 'rejected', message: say.rejected(NAME) };
  }
  if (status === 400 && rpc === 'FAILED_PRECONDITION') {
    return { outcome: 'billing', message: `${NAME} accepted the key, but the project cannot use the API (billing not enabled or region not supported)` };
  }
  if (status === 400 && rpc === 'INVALID_ARGUMENT' && message.includes('api key')) return { outcome: 'rejected', message: say.rejected(NAME) };
  if (status === 403) {
    if (message.includes('leaked')) {
      return { outcome: 'rejected', message: `${NAME} reports this key as leaked and has blocked it; create a new key` };
    }
    return { outcome: 'restricted', message: `${NAME} accepted the key, but it may not use the Generative Language API (API disabled or key restrictions)` };
  }
  return commonOutcome(NAME, status) ?? unexpected(NAME, status);
}

export function createAdapter(): ProviderAdapter {
  return {
    name: 'google',
    displayName: NAME,
    liveCheck: true,
    prepare: prepareApiKey,
    async check(cred, ctx) {
      const base = ctx.baseUrl('google', GOOGLE_URL);
      const models: string[] = [];
      let token = '';
      for (let page = 0; page < MAX_PAGES; page++) {
        const url = `${base}/v1beta/models?pageSize=1000${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`;
        const r = await getJson(ctx, url, { 'x-goog-api-key': cred.apiKey });
        if (r.kind === 'failure') {
          if (page === 0) return failed(NAME, r.reason);
          break;
        }
        if (r.status !== 200) {
          if (page === 0) return classify(r.status, r.json);
          break;
        }
        const list = field(r.json, 'models');
        if (!Array.isArray(list)) {
          if (page === 0) return undocumented(NAME);
          break;
        }
        for (const m of list) {
          const name = str(m, 'name');
          if (name) models.push(name.replace(/^models\//, ''));
        }
        token = str(r.json, 'nextPageToken');
        if (!token) break;
      }
      return { outcome: 'accepted', message: say.accepted(NAME, models), models };
    },
  };
}
