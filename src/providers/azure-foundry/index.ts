/**
 * Azure AI Foundry / Azure OpenAI adapter. The user supplies the endpoint and the server
 * calls it, so the endpoint is held to the three Azure host forms (plus a test-only allow
 * list), redirects are never followed, and the key goes only to that exact host.
 * See docs/byok.md "Cloud providers".
 */
import { invalid } from '../../errors/index.ts';
import { failureMessage, modelCount, parseJsonObject, send, type SentResponse } from '../cloud-outbound.ts';
import { opaqueKeyHint } from '../hint.ts';
import type { CheckContext, CheckResult, PreparedCredential, ProviderAdapter } from '../types.ts';

/** One DNS label (the resource name) followed by one of the three Azure endpoint suffixes. */
const AZURE_HOST_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.(?:openai\.azure\.com|services\.ai\.azure\.com|cognitiveservices\.azure\.com)$/;
const KEY_RE = /^[\x21-\x7e]{8,1024}$/;
/** Quota exhaustion, not a per-minute rate limit (whose text links to "quotaincrease"). */
const QUOTA_TEXT_RE = /exceeded your (?:current )?quota|quota (?:has been )?exceeded|insufficient quota|out of quota/;
const LEGACY_API_VERSION = '2024-10-21';
const ENDPOINT_FORMS = 'https://<resource>.openai.azure.com, https://<resource>.services.ai.azure.com or https://<resource>.cognitiveservices.azure.com';

export interface AzureAdapterOptions {
  /**
   * Test-only extra hosts (`host` or `host:port`, lower case) an endpoint may use, with
   * http and any port (NEO_AZURE_ALLOWED_HOSTS). Empty in production.
   */
  allowedHosts?: readonly string[];
}

/**
 * Checks and normalizes the endpoint to `https://<host>` (no trailing slash). Throws
 * invalid_request naming `location`. Never echoes the input (a URL may carry userinfo).
 */
export function normalizeEndpoint(location: string | null | undefined, allowedHosts: readonly string[] = []): string {
  const raw = (location ?? '').trim();
  if (raw === '') throw invalid(`location is required for azure-foundry: the resource endpoint, ${ENDPOINT_FORMS}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`location must be an endpoint URL: ${ENDPOINT_FORMS}`);
  }
  if (url.username !== '' || url.password !== '') throw invalid('location must not contain a user name or password');
  const host = url.hostname.toLowerCase();
  const allowListed = allowedHosts.includes(host) || allowedHosts.includes(url.host.toLowerCase());
  if (!allowListed) {
    // Only real Azure resource hosts: no IP literals, no other domains, no trailing dot.
    if (!AZURE_HOST_RE.test(host)) throw invalid(`location must be an Azure resource endpoint: ${ENDPOINT_FORMS}`);
    if (url.protocol !== 'https:') throw invalid('location must use https');
    // The WHATWG parser drops the default port, so any port left here is not 443.
    if (url.port !== '') throw invalid('location must not name a port other than 443');
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid('location must use https');
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    throw invalid('location must be the endpoint root without a path (for example, remove /openai/…)');
  }
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) {
    throw invalid('location must not contain a query or a fragment');
  }
  return `${url.protocol}//${url.host.toLowerCase()}`;
}

/** Checks the resource key locally: one printable token, no spaces. */
function checkKey(apiKey: string): string {
  const key = apiKey.trim();
  if (!KEY_RE.test(key)) throw invalid('api_key must be the Azure resource key (KEY 1 or KEY 2 on the resource\'s "Keys and Endpoint" page)');
  return key;
}

/**
 * True when `location` is exactly what `normalizeEndpoint` stores for a valid endpoint:
 * the check of a stored endpoint before a key is handed out for it (resolve, rewrap).
 */
export function isStoredEndpoint(location: string | null, allowedHosts: readonly string[] = []): boolean {
  try {
    return location !== null && normalizeEndpoint(location, allowedHosts) === location;
  } catch {
    return false;
  }
}

export function createAdapter(options: AzureAdapterOptions = {}): ProviderAdapter {
  const allowedHosts = (options.allowedHosts ?? []).map((h) => h.toLowerCase());
  return {
    name: 'azure-foundry',
    displayName: 'Azure AI Foundry',
    liveCheck: true,
    prepare({ apiKey, location }): PreparedCredential {
      const key = checkKey(apiKey);
      return { apiKey: key, location: normalizeEndpoint(location, allowedHosts), keyHint: opaqueKeyHint(key) };
    },
    async check(credential, ctx): Promise<CheckResult> {
      let endpoint: string;
      let key: string;
      try {
        // Re-checked here too: nothing but a validated Azure host is ever called.
        endpoint = normalizeEndpoint(credential.location, allowedHosts);
        key = checkKey(credential.apiKey);
      } catch {
        return { outcome: 'rejected', message: 'the endpoint or key is malformed' };
      }
      let res = await list(`${endpoint}/openai/v1/models`, key, ctx);
      // Resources without the v1 API answer 404 there: ask the versioned route once before calling it a wrong endpoint.
      if (res.kind === 'response' && res.status === 404) res = await list(`${endpoint}/openai/models?api-version=${LEGACY_API_VERSION}`, key, ctx);
      if (res.kind === 'error') {
        // The endpoint is typed by the user, so an unresolvable host is most likely a wrong one (issue 4);
        // the message names the other cause an operator can check.
        if (res.reason === 'dns') {
          return {
            outcome: 'rejected',
            message:
              'wrong endpoint: no Azure resource answers at this host name; copy the endpoint from the resource\'s "Keys and Endpoint" page (if the endpoint is right, this server may have no outbound DNS or network access: ask its operator)',
          };
        }
        if (res.reason === 'redirect') return { outcome: 'rejected', message: 'wrong endpoint: it answered with a redirect, which is never followed; use the resource endpoint itself' };
        return { outcome: 'unavailable', message: failureMessage(res.reason, 'Azure') };
      }
      if (res.status === 200) {
        const body = parseJsonObject(res.text);
        if (!Array.isArray(body?.data)) return { outcome: 'unavailable', message: 'Azure gave an unexpected answer; try again later' };
        const ids = new Set<string>();
        for (const m of body.data as unknown[]) {
          const id = m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined;
          if (typeof id === 'string' && /^[A-Za-z0-9._:/-]{1,200}$/.test(id)) ids.add(id);
        }
        const models = [...ids].sort();
        return { outcome: 'accepted', message: `key accepted; ${modelCount(models.length)} listed`, models };
      }
      return azureOutcome(res);
    },
  };
}

function list(url: string, key: string, ctx: CheckContext) {
  return send(ctx, url, { method: 'GET', headers: { 'api-key': key, accept: 'application/json' } });
}

/** Sorts a non-200 answer (Azure error bodies: `{error: {code, message}}`; never echoed). */
function azureOutcome(res: SentResponse): CheckResult {
  const body = parseJsonObject(res.text);
  const err = body?.error && typeof body.error === 'object' ? (body.error as Record<string, unknown>) : {};
  const code = typeof err.code === 'string' ? err.code : '';
  const text = typeof err.message === 'string' ? err.message.toLowerCase() : '';
  switch (true) {
    case res.status === 401:
      return { outcome: 'rejected', message: 'Azure rejected the key: invalid resource key or wrong API endpoint for this key' };
    case res.status === 404:
      return { outcome: 'rejected', message: 'wrong endpoint: the Azure OpenAI API was not found at this endpoint' };
    case res.status === 403:
      return {
        outcome: 'restricted',
        message: 'the key is valid but the resource refused access (network or firewall rules, or the resource is disabled)',
      };
    case res.status === 429 && (code === 'insufficient_quota' || QUOTA_TEXT_RE.test(text)):
      return { outcome: 'billing', message: 'the resource has no quota left; raise the quota or check the subscription\'s billing' };
    case res.status === 429:
      return { outcome: 'rate_limited', message: 'Azure is rate limiting requests; try again later' };
    case res.status >= 500:
      return { outcome: 'unavailable', message: `Azure is unavailable (HTTP ${res.status}); try again later` };
    default:
      return { outcome: 'unavailable', message: `Azure gave an unexpected answer (HTTP ${res.status}); try again later` };
  }
}
