/**
 * Google Vertex AI adapter. The credential is a service-account JSON key; the check
 * signs an RS256 assertion with its private key, exchanges it for an access token at
 * Google's token endpoint (never the `token_uri` inside the submitted JSON), then lists
 * publisher models in the chosen region. See docs/byok.md "Cloud providers".
 */
import { createPrivateKey } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { LRUCache } from 'lru-cache';
import { invalid } from '../../errors/index.ts';
import { sha256Hex } from '../../lib/hash.ts';
import type { CheckContext, CheckResult, PreparedCredential, ProviderAdapter, ShortLivedResult } from '../types.ts';
import { failed, jsonObject, modelCount, send, type Answer } from '../outbound.ts';
import { googleGenerateAccessToken, googleStsExchange, noFederation, type AccessToken, type Exchange } from '../federation.ts';
import { serviceAccountHint } from '../hint.ts';

export const DEFAULT_LOCATION = 'us-central1';
export const GOOGLE_TOKEN_ORIGIN = 'https://oauth2.googleapis.com';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Refresh a cached access token this long before Google says it expires. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** Publisher-model pages followed at most (pageSize 100 each). */
const MAX_PAGES = 5;
/** Publishers whose models Neo can serve on Vertex; `google` decides the outcome, the others are best effort. */
const PUBLISHERS = ['google', 'anthropic'] as const;

/**
 * Vertex AI's multi-region locations, served at `aiplatform.{loc}.rep.googleapis.com`
 * (as the official `@google/genai` SDK calls them).
 */
const MULTI_REGIONS: ReadonlySet<string> = new Set(['us', 'eu']);
/** GCP region names (`us-central1`, `europe-west4`, `northamerica-northeast1`), `global`, or a multi-region (`us`, `eu`). */
const REGION_RE = /^(?:[a-z]+(?:-[a-z]+)+[0-9]{1,2}|global|us|eu)$/;
/**
 * Known regions: the Google Cloud locations that have a Vertex AI API endpoint (Google
 * Cloud docs, "Vertex AI locations"), plus `global`. A well-formed name outside this list
 * is refused in prepare(), so a typo never leaves the server; inside it, a DNS failure
 * means this server cannot resolve names (egress rules, DNS outage), not a wrong region,
 * and the check is inconclusive. Add a region here when Google opens Vertex AI in it.
 */
export const KNOWN_LOCATIONS: ReadonlySet<string> = new Set([
  'global',
  // Multi-regions
  ...MULTI_REGIONS,
  // United States
  'us-central1', 'us-east1', 'us-east4', 'us-east5', 'us-south1', 'us-west1', 'us-west2', 'us-west3', 'us-west4',
  // Canada, South America
  'northamerica-northeast1', 'northamerica-northeast2', 'southamerica-east1', 'southamerica-west1',
  // Europe
  'europe-central2', 'europe-north1', 'europe-southwest1', 'europe-west1', 'europe-west2', 'europe-west3',
  'europe-west4', 'europe-west6', 'europe-west8', 'europe-west9', 'europe-west12',
  // Asia Pacific
  'asia-east1', 'asia-east2', 'asia-northeast1', 'asia-northeast2', 'asia-northeast3', 'asia-south1',
  'asia-southeast1', 'asia-southeast2', 'australia-southeast1', 'australia-southeast2',
  // Middle East, Africa
  'me-central1', 'me-central2', 'me-west1', 'africa-south1',
]);
const FIND_LOCATIONS = 'see "Vertex AI locations" in the Google Cloud documentation, or the region menu of the Vertex AI console';
/** Project ids: 6–30 lowercase letters, digits, hyphens; optionally domain-scoped (`example.com:proj`). */
const PROJECT_RE = /^(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const EMAIL_RE = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,189}$/;
const KEY_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export interface ServiceAccount {
  clientEmail: string;
  privateKey: string;
  privateKeyId: string | undefined;
  projectId: string;
}

const notServiceAccount = (why: string) =>
  invalid(`api_key must be a Google Cloud service-account JSON key (${why}); paste the whole downloaded key file`);

/**
 * Parses and checks a service-account JSON key locally. Throws invalid_request naming
 * `api_key`; the message never contains any part of the submitted text.
 */
export function parseServiceAccount(apiKey: string): ServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(apiKey);
  } catch {
    // The JSON.parse message quotes the input: never pass it on.
    throw notServiceAccount('it is not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw notServiceAccount('expected a JSON object');
  const sa = parsed as Record<string, unknown>;
  if (sa.type !== 'service_account') throw notServiceAccount('"type" must be "service_account"');
  for (const field of ['client_email', 'private_key', 'project_id'] as const) {
    if (typeof sa[field] !== 'string' || sa[field] === '') throw notServiceAccount(`"${field}" is missing`);
  }
  const clientEmail = (sa.client_email as string).trim();
  const projectId = (sa.project_id as string).trim();
  const privateKey = sa.private_key as string;
  if (!EMAIL_RE.test(clientEmail)) throw notServiceAccount('"client_email" is not an email address');
  if (!PROJECT_RE.test(projectId)) throw notServiceAccount('"project_id" is not a valid project id');
  let privateKeyId: string | undefined;
  if (sa.private_key_id !== undefined && sa.private_key_id !== null) {
    if (typeof sa.private_key_id !== 'string' || !KEY_ID_RE.test(sa.private_key_id)) {
      throw notServiceAccount('"private_key_id" is malformed');
    }
    privateKeyId = sa.private_key_id;
  }
  checkPrivateKey(privateKey);
  return { clientEmail, privateKey, privateKeyId, projectId };
}

/** A keyless connection (issue 18): Workload Identity Federation, optionally impersonating a service account. */
export interface WorkloadIdentity {
  provider: string;
  serviceAccountEmail: string | undefined;
  projectId: string;
}

const WIF_SHAPE = '{"workload_identity_provider":"projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>","service_account_email"?,"project_id"}';
/** The full resource name of a workload identity pool provider (project number; pool and provider ids: 4–32 of a-z 0-9 -). */
const WIF_PROVIDER_RE = /^projects\/\d{1,20}\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}\/providers\/[a-z0-9-]{4,32}$/;
const SA_EMAIL_RE = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.:-]{1,100}\.iam\.gserviceaccount\.com$|^[a-z0-9-]+@(?:[a-z0-9-]+\.)*(?:appspot|developer)\.gserviceaccount\.com$/;
const WIF_KEYS = new Set(['workload_identity_provider', 'service_account_email', 'project_id']);

/** The keyless form, or undefined when the credential is not one. Throws invalid_request naming api_key when malformed. */
export function parseWorkloadIdentity(apiKey: string): WorkloadIdentity | undefined {
  const s = apiKey.trim();
  if (!s.startsWith('{') || !s.includes('"workload_identity_provider"')) return undefined;
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch {
    throw invalid(`api_key looks like JSON but does not parse; expected ${WIF_SHAPE}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j) || !('workload_identity_provider' in j)) return undefined;
  const o = j as Record<string, unknown>;
  if (Object.keys(o).some((k) => !WIF_KEYS.has(k))) {
    throw invalid(`api_key: a keyless Vertex connection has only workload_identity_provider, service_account_email (optional) and project_id (no private key: nothing secret is stored)`);
  }
  const provider = typeof o.workload_identity_provider === 'string' ? o.workload_identity_provider.trim().replace(/^\/\/iam\.googleapis\.com\//, '') : '';
  if (!WIF_PROVIDER_RE.test(provider)) {
    throw invalid(`api_key: workload_identity_provider must be the provider's full resource name, projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`);
  }
  let serviceAccountEmail: string | undefined;
  if (o.service_account_email !== undefined && o.service_account_email !== null && o.service_account_email !== '') {
    if (typeof o.service_account_email !== 'string' || !SA_EMAIL_RE.test(o.service_account_email.trim().toLowerCase())) {
      throw invalid('api_key: service_account_email must be a service account address such as neo-vertex@my-project.iam.gserviceaccount.com');
    }
    serviceAccountEmail = o.service_account_email.trim().toLowerCase();
  }
  if (typeof o.project_id !== 'string' || !PROJECT_RE.test(o.project_id.trim())) {
    throw invalid('api_key: project_id must be the Google Cloud project id where Vertex AI is used (6–30 lowercase letters, digits, hyphens)');
  }
  return { provider, serviceAccountEmail, projectId: o.project_id.trim() };
}

/** The stored form of a keyless connection (normalized, fixed key order). */
function storedWorkloadIdentity(w: WorkloadIdentity): string {
  return JSON.stringify({
    workload_identity_provider: w.provider,
    ...(w.serviceAccountEmail ? { service_account_email: w.serviceAccountEmail } : {}),
    project_id: w.projectId,
  });
}

/** The service's token → Google STS → (generateAccessToken when a service account is named) → an access token. */
async function federatedToken(w: WorkloadIdentity, ctx: CheckContext): Promise<Exchange<AccessToken>> {
  if (!ctx.federation) return noFederation();
  let token: string;
  try {
    token = await ctx.federation.mintToken(`//iam.googleapis.com/${w.provider}`);
  } catch {
    return noFederation();
  }
  const sts = await googleStsExchange(ctx, { audience: `//iam.googleapis.com/${w.provider}`, token });
  if (!sts.ok || !w.serviceAccountEmail) return sts;
  return googleGenerateAccessToken(ctx, { serviceAccountEmail: w.serviceAccountEmail, federatedToken: sts.value.token });
}

/** The same rules jose applies to an RS256 PKCS#8 key, checked synchronously. */
function checkPrivateKey(pem: string): void {
  const bad = () => notServiceAccount('"private_key" is not a PEM-encoded PKCS#8 RSA private key');
  if (!/^\s*-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----\s*$/.test(pem)) throw bad();
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < 2048) throw new Error('not RSA-2048+');
  } catch {
    throw bad();
  }
}

/** Normalizes the region: blank → us-central1; lowercased; must look like a GCP region name (known or not) or `global`. */
export function normalizeLocation(location: string | null | undefined): string {
  const loc = (location ?? '').trim().toLowerCase();
  if (loc === '') return DEFAULT_LOCATION;
  if (loc.length > 40 || !REGION_RE.test(loc)) {
    throw invalid('location must be a Google Cloud region name such as us-central1 or europe-west4 (or global, us, eu)');
  }
  return loc;
}

/** The message for a well-formed location that is not a known Vertex AI location (safe to echo: it matched REGION_RE). */
function unknownLocation(location: string): string {
  return `location: unknown region "${location}" for Vertex AI; use a Vertex AI region such as us-central1, europe-west4 or asia-northeast1, or global (for the full list, ${FIND_LOCATIONS})`;
}

/** The Vertex AI API origin of a location (`global` has no region prefix; `us` and `eu` are multi-regions). */
export function regionalOrigin(location: string): string {
  if (location === 'global') return 'https://aiplatform.googleapis.com';
  if (MULTI_REGIONS.has(location)) return `https://aiplatform.${location}.rep.googleapis.com`;
  return `https://${location}-aiplatform.googleapis.com`;
}

interface CachedToken {
  accessToken: string;
}

type Step<T> = { ok: true; value: T } | { ok: false; result: CheckResult };

export interface VertexAdapterOptions {
  /** Cached access tokens kept at most (per credential and token endpoint). */
  tokenCacheSize?: number;
}

export function createAdapter(options: VertexAdapterOptions = {}): ProviderAdapter {
  // Access tokens live in memory only, keyed by a hash of the credential (never written anywhere).
  // The cache is made on first use, with the clock of the CheckContext (the app's clock).
  let tokens: LRUCache<string, CachedToken> | undefined;
  // Each entry lives until its token's expiry (less a margin), on the app's clock.
  const tokenCache = (clock: () => number) =>
    (tokens ??= new LRUCache<string, CachedToken>({ max: options.tokenCacheSize ?? 1000, perf: { now: clock }, ttlResolution: 0 }));

  async function fetchToken(sa: ServiceAccount, tokenUrl: string, ctx: CheckContext): Promise<Step<{ token: string; expiresInS: number }>> {
    let key;
    try {
      key = await importPKCS8(sa.privateKey, 'RS256');
    } catch {
      return { ok: false, result: { outcome: 'rejected', message: 'the private_key of this service account cannot be used for RS256 signing' } };
    }
    const nowS = Math.floor(ctx.clock() / 1000);
    const assertion = await new SignJWT({ scope: CLOUD_PLATFORM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(sa.privateKeyId ? { kid: sa.privateKeyId } : {}) })
      // No `sub`: Google reads it as a user to impersonate (domain-wide delegation).
      .setIssuer(sa.clientEmail)
      .setAudience(tokenUrl)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + 3600)
      .sign(key);
    const sent = await send(ctx, tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
    });
    if (sent.kind === 'failure') return { ok: false, result: failed('Google token endpoint', sent.reason) };
    const body = jsonObject(sent);
    if (sent.status === 200) {
      const token = body?.access_token;
      if (typeof token !== 'string' || token === '') {
        return { ok: false, result: { outcome: 'unavailable', message: 'Google token endpoint gave an unexpected answer; try again later' } };
      }
      const expiresIn = typeof body?.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
      return { ok: true, value: { token, expiresInS: expiresIn } };
    }
    return { ok: false, result: tokenError(sent.status, body) };
  }

  async function listModels(
    project: string,
    location: string,
    accessToken: string,
    ctx: CheckContext,
  ): Promise<Step<string[]> & { unauthorized?: boolean }> {
    const fallback = regionalOrigin(location);
    const base = ctx.baseUrl('google-vertex', fallback);
    // An override has one host for every region: the region becomes the first path segment
    // so that a fake (or a proxy) can still see it. Production uses the regional host.
    const origin = base === fallback ? base : `${base}/${location}`;
    const models: string[] = [];
    for (const publisher of PUBLISHERS) {
      let pageToken = '';
      for (let page = 0; page < MAX_PAGES; page++) {
        const query = new URLSearchParams({ pageSize: '100', listAllVersions: 'true' });
        if (pageToken) query.set('pageToken', pageToken);
        const sent = await send(ctx, `${origin}/v1beta1/publishers/${publisher}/models?${query.toString()}`, {
          method: 'GET',
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        });
        if (sent.kind === 'failure' || sent.status !== 200) {
          // Only `google` decides the outcome; other publishers just add model ids when listed.
          if (publisher !== 'google') break;
          if (sent.kind === 'response') return { ok: false, result: listError(sent, location, project), unauthorized: sent.status === 401 };
          // A DNS failure for a known location: this server cannot resolve names (inconclusive).
          return { ok: false, result: failed(`Vertex AI in ${location}`, sent.reason) };
        }
        const body = jsonObject(sent);
        const list = body?.publisherModels;
        if (!Array.isArray(list)) {
          if (publisher === 'google') {
            return { ok: false, result: { outcome: 'unavailable', message: 'Vertex AI gave an unexpected answer; try again later' } };
          }
          break;
        }
        for (const m of list as unknown[]) models.push(...modelIds(m));
        pageToken = typeof body?.nextPageToken === 'string' ? body.nextPageToken : '';
        if (!pageToken) break;
      }
    }
    return { ok: true, value: [...new Set(models)].sort() };
  }

  return {
    name: 'google-vertex',
    displayName: 'Google Vertex AI',
    liveCheck: true,
    prepare({ apiKey, location }): PreparedCredential {
      const wif = parseWorkloadIdentity(apiKey);
      const loc = normalizeLocation(location);
      if (wif) {
        if (!KNOWN_LOCATIONS.has(loc)) throw invalid(unknownLocation(loc));
        const hint = wif.serviceAccountEmail ?? `workload identity ${wif.provider.split('/').slice(-3).join('/')}`;
        return { apiKey: storedWorkloadIdentity(wif), location: loc, keyHint: hint, federated: true };
      }
      const sa = parseServiceAccount(apiKey);
      if (!KNOWN_LOCATIONS.has(loc)) throw invalid(unknownLocation(loc));
      return { apiKey, location: loc, keyHint: serviceAccountHint(sa.clientEmail) };
    },
    async shortLived(credential, ctx): Promise<ShortLivedResult | null> {
      let wif: WorkloadIdentity | undefined;
      let sa: ServiceAccount | undefined;
      try {
        wif = parseWorkloadIdentity(credential.apiKey);
        if (!wif) sa = parseServiceAccount(credential.apiKey);
      } catch {
        return { ok: false, result: { outcome: 'rejected', message: 'the stored Vertex credential is malformed' } };
      }
      if (wif) {
        const got = await federatedToken(wif, ctx);
        return got.ok ? { ok: true, credential: { kind: 'access_token', apiKey: got.value.token, expiresAtMs: got.value.expiresAtMs } } : got;
      }
      // A stored service-account key: the access token the check already obtains (never the key itself).
      const tokenUrl = `${ctx.baseUrl('google-oauth', GOOGLE_TOKEN_ORIGIN)}/token`;
      const got = await fetchToken(sa!, tokenUrl, ctx);
      if (!got.ok) return got;
      return { ok: true, credential: { kind: 'access_token', apiKey: got.value.token, expiresAtMs: ctx.clock() + got.value.expiresInS * 1000 } };
    },
    async check(credential, ctx): Promise<CheckResult> {
      let sa: ServiceAccount;
      let location: string;
      let wif: WorkloadIdentity | undefined;
      try {
        wif = parseWorkloadIdentity(credential.apiKey);
        location = normalizeLocation(credential.location);
      } catch {
        return { outcome: 'rejected', message: 'the credential or location is malformed' };
      }
      // Re-checked here too: an unknown location is never called (so a DNS failure is never a typo).
      if (!KNOWN_LOCATIONS.has(location)) return { outcome: 'rejected', message: unknownLocation(location) };
      if (wif) {
        // Keyless: the exchanged access token is checked exactly as a service account's is.
        const got = await federatedToken(wif, ctx);
        if (!got.ok) return got.result;
        const listed = await listModels(wif.projectId, location, got.value.token, ctx);
        if (!listed.ok) return listed.result;
        const who = wif.serviceAccountEmail ? `workload identity accepted (keyless, as ${wif.serviceAccountEmail})` : 'workload identity accepted (keyless)';
        return { outcome: 'accepted', message: `${who}; ${modelCount(listed.value.length)} listed in ${location}`, models: listed.value };
      }
      try {
        sa = parseServiceAccount(credential.apiKey);
      } catch {
        return { outcome: 'rejected', message: 'the service-account JSON or location is malformed' };
      }
      // Only Google's token endpoint (or the operator's override) is ever called.
      const tokenUrl = `${ctx.baseUrl('google-oauth', GOOGLE_TOKEN_ORIGIN)}/token`;
      const cache = tokenCache(ctx.clock);
      const cacheKey = sha256Hex(`${tokenUrl}\n${credential.apiKey}`);
      for (let attempt = 0; attempt < 2; attempt++) {
        let accessToken = cache.get(cacheKey)?.accessToken;
        const fromCache = accessToken !== undefined;
        if (!accessToken) {
          const got = await fetchToken(sa, tokenUrl, ctx);
          if (!got.ok) return got.result;
          accessToken = got.value.token;
          const ttl = got.value.expiresInS * 1000 - TOKEN_REFRESH_MARGIN_MS;
          if (ttl > 0) cache.set(cacheKey, { accessToken }, { ttl });
        }
        const listed = await listModels(sa.projectId, location, accessToken, ctx);
        if (listed.ok) {
          const n = listed.value.length;
          return { outcome: 'accepted', message: `service account accepted; ${modelCount(n)} listed in ${location}`, models: listed.value };
        }
        // A cached token can be revoked before it expires: drop it and try once with a fresh one.
        if (listed.unauthorized) cache.delete(cacheKey);
        if (!(listed.unauthorized && fromCache)) return listed.result;
      }
      return { outcome: 'rejected', message: 'Vertex AI did not accept the access token of this service account' };
    },
  };
}

/** Model ids of one publisher model: `gemini-2.5-pro`, plus `claude-sonnet-4-5@20250929` for dated versions. */
function modelIds(m: unknown): string[] {
  if (!m || typeof m !== 'object') return [];
  const { name, versionId } = m as { name?: unknown; versionId?: unknown };
  if (typeof name !== 'string') return [];
  const id = name.split('/').pop() ?? '';
  if (!/^[A-Za-z0-9._@-]{1,128}$/.test(id)) return [];
  const ids = [id];
  if (typeof versionId === 'string' && /^\d{8}$/.test(versionId) && !id.includes('@')) ids.push(`${id}@${versionId}`);
  return ids;
}


/**
 * How Google's token endpoint describes an assertion outside its time window ("Invalid
 * JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.
 * Check your iat and exp values…"): the assertion is signed with this server's clock.
 */
const TIME_WINDOW_RE = /reasonable timeframe|short-lived token|iat and exp|clock skew/i;

/** Step 1 errors (RFC 6749 section 5.2 bodies: `{error, error_description}`). */
function tokenError(status: number, body: Record<string, unknown> | undefined): CheckResult {
  const code = typeof body?.error === 'string' ? body.error : '';
  const description = typeof body?.error_description === 'string' ? body.error_description : '';
  if (status === 429) return { outcome: 'rate_limited', message: 'Google token endpoint is rate limiting requests; try again later' };
  if (status >= 500) return { outcome: 'unavailable', message: `Google token endpoint is unavailable (HTTP ${status}); try again later` };
  // Our clock, not the key: inconclusive (saved unverified), and the operator can fix it.
  if (code === 'invalid_grant' && TIME_WINDOW_RE.test(description)) {
    return {
      outcome: 'unavailable',
      message:
        "Google refused the sign-in assertion as outside its time window, which points at this server's clock rather than the key; the key could not be verified (the operator should check the server's clock, e.g. NTP); try again later",
    };
  }
  if (code === 'invalid_grant' || code === 'invalid_client' || code === 'unauthorized_client' || status === 401) {
    return {
      outcome: 'rejected',
      message: `Google rejected the service account (${code || `HTTP ${status}`}): the key may be deleted or disabled, or the account no longer exists`,
    };
  }
  return { outcome: 'unavailable', message: `Google token endpoint gave an unexpected answer (HTTP ${status}); try again later` };
}

/** Step 2 errors (Google API error bodies: `{error: {code, status, message, details[].reason}}`). */
function listError(sent: Answer, location: string, project: string): CheckResult {
  const body = jsonObject(sent);
  const err = body?.error && typeof body.error === 'object' ? (body.error as Record<string, unknown>) : {};
  const status = typeof err.status === 'string' ? err.status : '';
  const reasons = Array.isArray(err.details)
    ? (err.details as unknown[]).map((d) => {
        const reason = d && typeof d === 'object' ? (d as { reason?: unknown }).reason : undefined;
        return typeof reason === 'string' ? reason : '';
      })
    : [];
  const text = typeof err.message === 'string' ? err.message.toLowerCase() : '';
  const http = sent.status;
  if (http === 401) return { outcome: 'rejected', message: 'Vertex AI did not accept the access token of this service account' };
  if (http === 429 || status === 'RESOURCE_EXHAUSTED') {
    return { outcome: 'rate_limited', message: 'Vertex AI is rate limiting requests; try again later' };
  }
  if (http === 403) {
    if (reasons.includes('BILLING_DISABLED') || text.includes('billing')) {
      return { outcome: 'billing', message: `billing is disabled for project ${project}; enable billing to use Vertex AI` };
    }
    if (reasons.includes('SERVICE_DISABLED') || reasons.includes('ACCESS_NOT_CONFIGURED')) {
      return { outcome: 'restricted', message: `the Vertex AI API is not enabled in project ${project}; enable aiplatform.googleapis.com` };
    }
    return {
      outcome: 'restricted',
      message: `the service account lacks permission on Vertex AI in project ${project}; grant it roles/aiplatform.user`,
    };
  }
  if (http === 404) return { outcome: 'restricted', message: `Vertex AI publisher models are not available in ${location}` };
  if (http >= 500) return { outcome: 'unavailable', message: `Vertex AI is unavailable (HTTP ${http}); try again later` };
  return { outcome: 'unavailable', message: `Vertex AI gave an unexpected answer (HTTP ${http}); try again later` };
}
