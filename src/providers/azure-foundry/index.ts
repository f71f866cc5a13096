/**
 * Azure AI Foundry / Azure OpenAI adapter. The user supplies the endpoint and the server
 * calls it, so the endpoint is held to the three Azure host forms (plus a test-only allow
 * list), redirects are never followed, and the key goes only to that exact host.
 * See docs/byok.md "Cloud providers".
 */
import { invalid } from '../../errors/index.ts';
import { failed, jsonObject, modelCount, send, type Answer } from '../outbound.ts';
import { AZURE_COGNITIVE_SCOPE, entraClientAssertion, noFederation, type AccessToken, type Exchange } from '../federation.ts';
import { opaqueKeyHint } from '../hint.ts';
import type { CheckContext, CheckResult, PreparedCredential, ProviderAdapter, ShortLivedResult } from '../types.ts';

/** A keyless connection (issue 18): an Entra application with a federated credential for this service's tokens. */
export interface EntraApp {
  tenantId: string;
  clientId: string;
}

/** The audience of the service's token for Entra (FEDERATION_AUDIENCES.azure). */
export const AZURE_AUDIENCE = 'api://AzureADTokenExchange';
export { AZURE_COGNITIVE_SCOPE };
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A tenant: its id (GUID) or a verified domain (contoso.onmicrosoft.com). */
const TENANT_DOMAIN_RE = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ENTRA_SHAPE = '{"tenant_id","client_id"}';

/** The keyless form `{"tenant_id","client_id"}`, or undefined when the credential is a resource key. Throws invalid_request naming api_key when malformed. */
export function parseEntraApp(apiKey: string): EntraApp | undefined {
  const s = apiKey.trim();
  if (!s.startsWith('{')) return undefined;
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch {
    throw invalid(`api_key looks like JSON but does not parse; expected ${ENTRA_SHAPE} (keyless) or the resource key`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw invalid(`api_key must be ${ENTRA_SHAPE} (keyless) or the resource key`);
  const o = j as Record<string, unknown>;
  if (Object.keys(o).some((k) => k !== 'tenant_id' && k !== 'client_id')) {
    throw invalid(`api_key: a keyless Azure AI Foundry connection is ${ENTRA_SHAPE} only (no client secret: nothing secret is stored)`);
  }
  const tenant = typeof o.tenant_id === 'string' ? o.tenant_id.trim().toLowerCase() : '';
  const client = typeof o.client_id === 'string' ? o.client_id.trim().toLowerCase() : '';
  if (!GUID_RE.test(tenant) && !TENANT_DOMAIN_RE.test(tenant)) throw invalid('api_key: tenant_id must be the Microsoft Entra tenant id (a GUID) or its domain');
  if (!GUID_RE.test(client)) throw invalid('api_key: client_id must be the application (client) id of the Entra app registration or managed identity (a GUID)');
  return { tenantId: tenant, clientId: client };
}

async function entraToken(app: EntraApp, ctx: CheckContext): Promise<Exchange<AccessToken>> {
  if (!ctx.federation) return noFederation();
  let token: string;
  try {
    token = await ctx.federation.mintToken(AZURE_AUDIENCE);
  } catch {
    return noFederation();
  }
  return entraClientAssertion(ctx, { tenantId: app.tenantId, clientId: app.clientId, token });
}

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
      const app = parseEntraApp(apiKey);
      if (app) {
        const stored = JSON.stringify({ tenant_id: app.tenantId, client_id: app.clientId });
        return { apiKey: stored, location: normalizeEndpoint(location, allowedHosts), keyHint: `entra app ${app.clientId}`, federated: true };
      }
      const key = checkKey(apiKey);
      return { apiKey: key, location: normalizeEndpoint(location, allowedHosts), keyHint: opaqueKeyHint(key) };
    },
    async shortLived(credential, ctx): Promise<ShortLivedResult | null> {
      let app: EntraApp | undefined;
      try {
        normalizeEndpoint(credential.location, allowedHosts);
        app = parseEntraApp(credential.apiKey);
      } catch {
        return { ok: false, result: { outcome: 'rejected', message: 'the endpoint or credential is malformed' } };
      }
      // A resource key has no short-lived form.
      if (!app) return null;
      const got = await entraToken(app, ctx);
      return got.ok ? { ok: true, credential: { kind: 'access_token', apiKey: got.value.token, expiresAtMs: got.value.expiresAtMs } } : got;
    },
    async check(credential, ctx): Promise<CheckResult> {
      let endpoint: string;
      let auth: Record<string, string>;
      let app: EntraApp | undefined;
      try {
        // Re-checked here too: nothing but a validated Azure host is ever called.
        endpoint = normalizeEndpoint(credential.location, allowedHosts);
        app = parseEntraApp(credential.apiKey);
        auth = app ? {} : { 'api-key': checkKey(credential.apiKey) };
      } catch {
        return { outcome: 'rejected', message: 'the endpoint or key is malformed' };
      }
      if (app) {
        // Keyless: the Entra access token is checked exactly as a key is, as a bearer token.
        const got = await entraToken(app, ctx);
        if (!got.ok) return got.result;
        auth = { authorization: `Bearer ${got.value.token}` };
      }
      let res = await list(`${endpoint}/openai/v1/models`, auth, ctx);
      // Resources without the v1 API answer 404 there: ask the versioned route once before calling it a wrong endpoint.
      if (res.kind === 'response' && res.status === 404) res = await list(`${endpoint}/openai/models?api-version=${LEGACY_API_VERSION}`, auth, ctx);
      if (res.kind === 'failure') {
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
        return failed('Azure', res.reason);
      }
      if (res.status === 200) {
        const body = jsonObject(res);
        if (!Array.isArray(body?.data)) return { outcome: 'unavailable', message: 'Azure gave an unexpected answer; try again later' };
        const ids = new Set<string>();
        for (const m of body.data as unknown[]) {
          const id = m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined;
          if (typeof id === 'string' && /^[A-Za-z0-9._:/-]{1,200}$/.test(id)) ids.add(id);
        }
        const models = [...ids].sort();
        const who = app ? `Entra app ${app.clientId} accepted (keyless)` : 'key accepted';
        return { outcome: 'accepted', message: `${who}; ${modelCount(models.length)} listed`, models };
      }
      return azureOutcome(res, app !== undefined);
    },
  };
}

function list(url: string, auth: Record<string, string>, ctx: CheckContext) {
  return send(ctx, url, { method: 'GET', headers: { ...auth, accept: 'application/json' } });
}

/** Sorts a non-200 answer (Azure error bodies: `{error: {code, message}}`; never echoed). */
function azureOutcome(res: Answer, keyless = false): CheckResult {
  const body = jsonObject(res);
  const err = body?.error && typeof body.error === 'object' ? (body.error as Record<string, unknown>) : {};
  const code = typeof err.code === 'string' ? err.code : '';
  const text = typeof err.message === 'string' ? err.message.toLowerCase() : '';
  switch (true) {
    case res.status === 401 && keyless:
      return { outcome: 'rejected', message: 'Azure rejected the Entra access token at this endpoint: give the app a role on the resource (Cognitive Services OpenAI User) and check the endpoint' };
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
