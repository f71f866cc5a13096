/**
 * Fakes of the three cloud providers' wire contracts, listening on 127.0.0.1 port 0:
 *
 * - Google: the OAuth token endpoint (`POST /token`) verifies the RS256 assertion with the
 *   service account's public key and checks its claims (iss, scope, aud, exp, kid); the
 *   Vertex publisher-model list (`GET /{location}/v1beta1/publishers/{publisher}/models`,
 *   the adapter's override layout) checks the bearer token and the region.
 * - AWS: STS `GetCallerIdentity` (`POST /`) and Bedrock (`GET /foundation-models`,
 *   `GET /inference-profiles`) verify the SigV4 signature by recomputing it with an
 *   independent implementation (@smithy/signature-v4 + @aws-crypto/sha256-js), with the
 *   real error codes and bodies (STS XML, Bedrock JSON + x-amzn-ErrorType).
 * - Azure: `GET /openai/v1/models` (and the versioned route) with the `api-key` header.
 * - A recording server that counts every request it gets (to prove a host is never called).
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { ProviderName } from '../../src/providers/types.ts';
import { unverifiedIssuer, verifyIssuerToken } from './oidc-verifier.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface FakeBase {
  url: string;
  requests: RecordedRequest[];
  /** Delay every answer (to provoke client timeouts). */
  delayMs: number;
  close(): Promise<void>;
}

type Handler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

async function startServer(handler: Handler): Promise<{ server: Server; url: string; requests: RecordedRequest[]; state: { delayMs: number } }> {
  const requests: RecordedRequest[] = [];
  const state = { delayMs: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const rec: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(rec);
      const run = () => {
        Promise.resolve(handler(rec, res)).catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
      };
      if (state.delayMs > 0) setTimeout(run, state.delayMs);
      else run();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, requests, state };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

// ---------------------------------------------------------------------------------------
// Recording server
// ---------------------------------------------------------------------------------------

/** Answers every request with a plausible success and records it: it must stay unused. */
export async function startRecordingServer(): Promise<FakeBase> {
  const s = await startServer((_req, res) => json(res, 200, { access_token: 'stolen', expires_in: 3600, data: [{ id: 'evil-model' }] }));
  return fakeBase(s);
}

function fakeBase(s: Awaited<ReturnType<typeof startServer>>): FakeBase {
  return {
    url: s.url,
    requests: s.requests,
    get delayMs() {
      return s.state.delayMs;
    },
    set delayMs(v: number) {
      s.state.delayMs = v;
    },
    close: () => closeServer(s.server),
  };
}

// ---------------------------------------------------------------------------------------
// Google: OAuth token endpoint + Vertex publisher models
// ---------------------------------------------------------------------------------------

export interface ServiceAccountFixture {
  /** The service-account JSON key file, as a user would paste it. */
  json: string;
  clientEmail: string;
  projectId: string;
  privateKeyId: string;
  publicKey: KeyObject;
  privateKeyPem: string;
}

/** A fresh RSA-2048 service account (the JSON Google lets users download). */
export function makeServiceAccount(opts: { projectId?: string; name?: string; tokenUri?: string; extra?: Record<string, unknown> } = {}): ServiceAccountFixture {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const projectId = opts.projectId ?? 'neo-test-project';
  const clientEmail = `${opts.name ?? 'neo-byok'}-${randomBytes(3).toString('hex')}@${projectId}.iam.gserviceaccount.com`;
  const privateKeyId = randomBytes(20).toString('hex');
  const json = JSON.stringify(
    {
      type: 'service_account',
      project_id: projectId,
      private_key_id: privateKeyId,
      private_key: privateKeyPem,
      client_email: clientEmail,
      client_id: String(100000000000000000000n + BigInt(randomBytes(4).readUInt32BE())),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: opts.tokenUri ?? 'https://oauth2.googleapis.com/token',
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
      universe_domain: 'googleapis.com',
      ...opts.extra,
    },
    null,
    2,
  );
  return { json, clientEmail, projectId, privateKeyId, publicKey, privateKeyPem };
}

type GoogleListFault = 'SERVICE_DISABLED' | 'BILLING_DISABLED' | 'IAM_PERMISSION_DENIED' | 'RATE_LIMITED' | 'INTERNAL' | 'NOT_FOUND';

export interface GoogleAccountState {
  publicKey: KeyObject;
  privateKeyId: string;
  projectId: string;
  /** Deleted/disabled service account: the token endpoint answers invalid_grant. */
  disabled?: boolean;
  /** How the model list answers for this account's tokens. */
  listFault?: GoogleListFault;
}

export interface GoogleFake extends FakeBase {
  tokenUrl: string;
  accounts: Map<string, GoogleAccountState>;
  /** Regions the fake serves; others answer 404. */
  regions: Set<string>;
  models: Record<string, { name: string; versionId: string }[]>;
  /** Token endpoint fault: next answers are this status (429, 500, …). */
  tokenFault: { status: number; body: unknown } | null;
  /** Access tokens issued, with their lifetime in seconds. */
  tokenLifetimeS: number;
  issued: Map<string, { email: string; expiresAt: number }>;
  /** Claims of the last verified assertion. */
  lastAssertion: { header: Record<string, unknown>; claims: Record<string, unknown> } | null;
  addAccount(sa: ServiceAccountFixture, state?: Partial<GoogleAccountState>): void;
  tokenRequests(): RecordedRequest[];
  listRequests(): RecordedRequest[];
  revokeAllTokens(): void;
  /** The fake's clock (token expiry, assertion windows). */
  clock: () => number;
  /**
   * Workload identity pool providers by full resource name
   * (`projects/<n>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`):
   * the issuer they trust and their attribute condition (`assertion.sub` in `subjects`).
   */
  workloadProviders: Map<string, { issuer: string; subjects: Set<string>; disabled?: boolean }>;
  /** roles/iam.workloadIdentityUser bindings: service account email → principals allowed to impersonate it. */
  impersonators: Map<string, Set<string>>;
  /** Every successful STS exchange and impersonation, in order. */
  exchanges: { kind: 'sts' | 'generateAccessToken'; principal: string; serviceAccount?: string }[];
}

/** The principal of a federated identity (what an IAM binding names). */
export function workloadPrincipal(workloadProvider: string, subject: string): string {
  const pool = workloadProvider.replace(/\/providers\/[^/]+$/, '');
  return `principal://iam.googleapis.com/${pool}/subject/${subject}`;
}

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

function googleError(res: ServerResponse, code: number, status: string, message: string, reason?: string): void {
  json(res, code, {
    error: {
      code,
      message,
      status,
      ...(reason ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com' }] } : {}),
    },
  });
}

export async function startGoogleFake(): Promise<GoogleFake> {
  const handler: Handler = async (req, res) => {
    const url = new URL(req.path, 'http://fake');
    if (req.method === 'POST' && url.pathname === '/token') return tokenEndpoint(req, res);
    if (req.method === 'POST' && url.pathname === '/v1/token') return stsEndpoint(req, res);
    const ga = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(url.pathname);
    if (req.method === 'POST' && ga) return generateAccessToken(req, res, decodeURIComponent(ga[1]!));
    const m = /^\/([a-z0-9-]+)\/v1beta1\/publishers\/([a-z]+)\/models$/.exec(url.pathname);
    if (req.method === 'GET' && m) return listModels(req, res, url, m[1]!, m[2]!);
    googleError(res, 404, 'NOT_FOUND', 'The requested URL was not found on this server.');
  };

  async function tokenEndpoint(req: RecordedRequest, res: ServerResponse): Promise<void> {
    if (fake.tokenFault) return json(res, fake.tokenFault.status, fake.tokenFault.body);
    if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      return json(res, 400, { error: 'invalid_request', error_description: 'Invalid content type' });
    }
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    }
    const assertion = form.get('assertion') ?? '';
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe' });
    }
    const payload = assertion.split('.')[1] ?? '';
    let iss: unknown;
    try {
      iss = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>).iss;
    } catch {
      iss = undefined;
    }
    const account = typeof iss === 'string' ? fake.accounts.get(iss) : undefined;
    if (!account || account.disabled) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
    if (header.alg !== 'RS256' || header.kid !== account.privateKeyId) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(assertion, account.publicKey, { algorithms: ['RS256'], issuer: iss as string, audience: fake.tokenUrl, currentDate: new Date(fake.clock()) });
      claims = verified.payload;
    } catch {
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    const now = Math.floor(fake.clock() / 1000);
    if (!Number.isFinite(iat) || !Number.isFinite(exp) || exp - iat > 3600 || exp <= now || iat > now + 300) {
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' });
    }
    if (claims.scope !== CLOUD_PLATFORM) return json(res, 400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope.' });
    fake.lastAssertion = { header, claims };
    const token = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    fake.issued.set(token, { email: iss as string, expiresAt: fake.clock() + fake.tokenLifetimeS * 1000 });
    json(res, 200, { access_token: token, expires_in: fake.tokenLifetimeS, token_type: 'Bearer' });
  }

  /** Google STS token exchange (RFC 8693), as sts.googleapis.com/v1/token answers it. */
  async function stsEndpoint(req: RecordedRequest, res: ServerResponse): Promise<void> {
    if (fake.tokenFault) return json(res, fake.tokenFault.status, fake.tokenFault.body);
    if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      return json(res, 400, { error: 'invalid_request', error_description: 'Invalid content type.' });
    }
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type.' });
    if (form.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:jwt') return json(res, 400, { error: 'invalid_request', error_description: 'Invalid subject_token_type.' });
    if (form.get('requested_token_type') !== 'urn:ietf:params:oauth:token-type:access_token') return json(res, 400, { error: 'invalid_request', error_description: 'Invalid requested_token_type.' });
    if (form.get('scope') !== CLOUD_PLATFORM) return json(res, 400, { error: 'invalid_scope', error_description: 'Invalid scope.' });
    const audience = form.get('audience') ?? '';
    const providerName = audience.replace(/^\/\/iam\.googleapis\.com\//, '');
    const provider = fake.workloadProviders.get(providerName);
    if (!audience.startsWith('//iam.googleapis.com/') || !provider || provider.disabled) {
      return json(res, 400, {
        error: 'invalid_target',
        error_description: `The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.`,
      });
    }
    const token = form.get('subject_token') ?? '';
    // The provider's default allowed audience: its own full resource name.
    const v = await verifyIssuerToken(token, { trustedIssuer: provider.issuer, audience, nowMs: fake.clock(), maxLifetimeS: 86_400 });
    if (!v.ok) {
      const description =
        v.reason === 'issuer'
          ? 'The issuer in ID Token does not match the expected ones.'
          : v.reason === 'audience'
            ? 'The audience in ID Token does not match the expected audience.'
            : v.reason === 'expired'
              ? 'ID Token has expired.'
              : v.reason === 'discovery'
                ? 'Unable to retrieve the public keys (JWKS) of the OIDC issuer.'
                : 'Invalid ID Token.';
      return json(res, 400, { error: 'invalid_grant', error_description: description });
    }
    // The attribute condition on assertion.sub.
    if (!provider.subjects.has(v.claims.sub)) {
      return json(res, 400, { error: 'unauthorized_client', error_description: 'The given credential is rejected by the attribute condition.' });
    }
    const principal = workloadPrincipal(providerName, v.claims.sub);
    const access = `ya29.d.fed-${randomBytes(24).toString('base64url')}`;
    fake.issued.set(access, { email: principal, expiresAt: fake.clock() + fake.tokenLifetimeS * 1000 });
    fake.exchanges.push({ kind: 'sts', principal });
    json(res, 200, { access_token: access, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: fake.tokenLifetimeS });
  }

  /** IAM Credentials generateAccessToken: a federated principal impersonates a service account it is bound to. */
  function generateAccessToken(req: RecordedRequest, res: ServerResponse, email: string): void {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer ? fake.issued.get(bearer) : undefined;
    if (!grant || grant.expiresAt <= fake.clock()) {
      return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'ACCESS_TOKEN_TYPE_UNSUPPORTED');
    }
    if (fake.tokenFault) return json(res, fake.tokenFault.status, fake.tokenFault.body);
    let body: { scope?: unknown; lifetime?: unknown };
    try {
      body = JSON.parse(req.body) as typeof body;
    } catch {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (!Array.isArray(body.scope) || body.scope.length === 0) return googleError(res, 400, 'INVALID_ARGUMENT', 'Scope required.');
    const lifetime = typeof body.lifetime === 'string' ? /^(\d+)s$/.exec(body.lifetime)?.[1] : '3600';
    if (!lifetime || Number(lifetime) > 3600) return googleError(res, 400, 'INVALID_ARGUMENT', 'The lifetime must be at most 3600s.');
    if (!fake.impersonators.get(email)?.has(grant.email)) {
      return googleError(res, 403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", 'IAM_PERMISSION_DENIED');
    }
    const access = `ya29.c.sa-${randomBytes(24).toString('base64url')}`;
    const expiresAt = fake.clock() + Number(lifetime) * 1000;
    fake.issued.set(access, { email, expiresAt });
    fake.exchanges.push({ kind: 'generateAccessToken', principal: grant.email, serviceAccount: email });
    json(res, 200, { accessToken: access, expireTime: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') });
  }

  function listModels(req: RecordedRequest, res: ServerResponse, url: URL, region: string, publisher: string): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = token ? fake.issued.get(token) : undefined;
    if (!grant || grant.expiresAt <= fake.clock()) {
      return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'ACCESS_TOKEN_TYPE_UNSUPPORTED');
    }
    const account = fake.accounts.get(grant.email);
    switch (account?.listFault) {
      case 'SERVICE_DISABLED':
        return googleError(res, 403, 'PERMISSION_DENIED', `Vertex AI API has not been used in project ${account.projectId} before or it is disabled.`, 'SERVICE_DISABLED');
      case 'BILLING_DISABLED':
        return googleError(res, 403, 'PERMISSION_DENIED', `This API method requires billing to be enabled. Please enable billing on project #${account.projectId}.`, 'BILLING_DISABLED');
      case 'IAM_PERMISSION_DENIED':
        return googleError(res, 403, 'PERMISSION_DENIED', "Permission 'aiplatform.publisherModels.list' denied", 'IAM_PERMISSION_DENIED');
      case 'RATE_LIMITED':
        return googleError(res, 429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for aiplatform.googleapis.com/read_requests.', 'RATE_LIMIT_EXCEEDED');
      case 'INTERNAL':
        return googleError(res, 500, 'INTERNAL', 'Internal error encountered.');
      case 'NOT_FOUND':
        return googleError(res, 404, 'NOT_FOUND', 'Publisher Model not found.');
      default:
    }
    if (!fake.regions.has(region)) return googleError(res, 404, 'NOT_FOUND', `Location ${region} is not found or access is unauthorized.`);
    const all = fake.models[publisher] ?? [];
    const pageSize = Math.min(Number(url.searchParams.get('pageSize') ?? '100') || 100, 100);
    const offset = Number(url.searchParams.get('pageToken') || '0');
    const page = all.slice(offset, offset + pageSize);
    const next = offset + pageSize < all.length ? String(offset + pageSize) : undefined;
    json(res, 200, {
      publisherModels: page.map((p) => ({ name: `publishers/${publisher}/models/${p.name}`, versionId: p.versionId, openSourceCategory: 'PROPRIETARY', launchStage: 'GA' })),
      ...(next ? { nextPageToken: next } : {}),
    });
  }

  const s = await startServer(handler);
  const fake = Object.assign(fakeBase(s), {
    tokenUrl: `${s.url}/token`,
    accounts: new Map<string, GoogleAccountState>(),
    regions: new Set(['us-central1', 'europe-west4', 'asia-northeast1', 'global']),
    models: {
      google: [
        { name: 'gemini-2.5-pro', versionId: '001' },
        { name: 'gemini-2.5-flash', versionId: '001' },
        { name: 'text-embedding-005', versionId: '001' },
      ],
      anthropic: [{ name: 'claude-sonnet-4-5', versionId: '20250929' }],
    },
    tokenFault: null,
    tokenLifetimeS: 3599,
    issued: new Map<string, { email: string; expiresAt: number }>(),
    lastAssertion: null,
    addAccount(sa: ServiceAccountFixture, state: Partial<GoogleAccountState> = {}) {
      fake.accounts.set(sa.clientEmail, { publicKey: sa.publicKey, privateKeyId: sa.privateKeyId, projectId: sa.projectId, ...state });
    },
    tokenRequests: () => s.requests.filter((r) => r.path === '/token'),
    listRequests: () => s.requests.filter((r) => r.path.includes('/publishers/')),
    revokeAllTokens: () => fake.issued.clear(),
    clock: Date.now,
    workloadProviders: new Map(),
    impersonators: new Map(),
    exchanges: [],
  }) as GoogleFake;
  return fake;
}

// ---------------------------------------------------------------------------------------
// AWS: STS + Bedrock with SigV4 verification
// ---------------------------------------------------------------------------------------

export interface AwsIdentity {
  secretAccessKey: string;
  sessionToken?: string;
  /** The session token has expired (ExpiredToken). */
  sessionExpired?: boolean;
  /** Temporary keys issued by this fake: they expire then (on the fake's clock). */
  expiresAtMs?: number;
  account?: string;
}

/**
 * A role with a web-identity trust policy: the IAM OIDC provider for `issuer` exists in
 * the account (audience sts.amazonaws.com) and the trust policy conditions on
 * `<issuer host>:sub` = `subject` and `:aud` = sts.amazonaws.com.
 */
export interface AwsRoleTrust {
  issuer: string;
  subject: string;
  audience?: string;
}

export type AwsFault = { code: string; status: number } | null;

export interface AwsRecord {
  service: 'sts' | 'bedrock';
  path: string;
  auth: 'sigv4' | 'bearer' | 'none';
  accessKeyId?: string;
  /** Region and service of the SigV4 credential scope. */
  scopeRegion?: string;
  scopeService?: string;
  sessionToken?: string;
  /** Whether the signature verified. */
  verified: boolean;
}

export interface AwsFake extends FakeBase {
  /** The region this fake is (a request scoped to another region is rejected). */
  region: string;
  identities: Map<string, AwsIdentity>;
  bearerKeys: Set<string>;
  foundationModels: string[];
  /** System-defined (cross-region) inference profiles. */
  inferenceProfiles: string[];
  /** Application inference profiles (listed only when no `type` filter is sent). */
  applicationProfiles: string[];
  stsFault: AwsFault;
  bedrockFault: AwsFault;
  /** Fault of ListInferenceProfiles only (the adapter treats it as optional). */
  profilesFault: AwsFault;
  records: AwsRecord[];
  /** The fake's clock (signature windows, temporary key expiry, token verification). */
  clock: () => number;
  /** Roles assumable with AssumeRoleWithWebIdentity, by ARN. */
  roles: Map<string, AwsRoleTrust>;
  /** Every successful AssumeRoleWithWebIdentity / GetSessionToken, in order. */
  exchanges: { action: 'AssumeRoleWithWebIdentity' | 'GetSessionToken'; roleArn?: string; sub?: string; sessionName?: string; accessKeyId: string }[];
  /** Makes a fresh access key pair (optionally temporary, with a session token). */
  addIdentity(opts?: { temporary?: boolean; sessionExpired?: boolean }): { access_key_id: string; secret_access_key: string; session_token?: string };
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function stsError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${message}</Message>\n  </Error>\n  <RequestId>${randomBytes(8).toString('hex')}</RequestId>\n</ErrorResponse>\n`,
  );
}

/** A realistic message for an injected fault (AccessDeniedException names the missing permission). */
function faultMessage(code: string, path: string): string {
  if (code === 'AccessDeniedException') {
    const action = path === '/inference-profiles' ? 'ListInferenceProfiles' : 'ListFoundationModels';
    return `User: arn:aws:iam::123456789012:user/neo is not authorized to perform: bedrock:${action} because no identity-based policy allows the bedrock:${action} action`;
  }
  return 'fault';
}

function bedrockError(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { message }, { 'x-amzn-errortype': `${code}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': randomBytes(8).toString('hex') });
}

const REJECTIONS = {
  sts: { unknownKey: 'InvalidClientTokenId', badSignature: 'SignatureDoesNotMatch', expired: 'ExpiredToken', missing: 'MissingAuthenticationToken' },
  bedrock: { unknownKey: 'UnrecognizedClientException', badSignature: 'InvalidSignatureException', expired: 'ExpiredTokenException', missing: 'MissingAuthenticationTokenException' },
} as const;

export async function startAwsFake(opts: { region?: string } = {}): Promise<AwsFake> {

  /** Verifies the request's authentication; returns the error to send, or null when it verified. */
  async function authenticate(req: RecordedRequest, service: 'sts' | 'bedrock', rec: AwsRecord): Promise<{ status: number; code: string; message: string } | null> {
    const codes = REJECTIONS[service];
    const authz = req.headers.authorization ?? '';
    if (service === 'bedrock' && authz.startsWith('Bearer ')) {
      rec.auth = 'bearer';
      // What Bedrock answers a Bedrock API key it cannot use: 403 AccessDeniedException, with
      // the reason in the message (long-term keys start ABSK, short-term ones bedrock-api-key-).
      const token = authz.slice(7);
      if (!/^(?:ABSK|bedrock-api-key-)/.test(token)) return { status: 403, code: 'AccessDeniedException', message: 'Invalid API Key format: Must start with pre-defined prefix' };
      if (!fake.bearerKeys.has(token)) return { status: 403, code: 'AccessDeniedException', message: 'Authentication failed: Please make sure your API Key is valid.' };
      rec.verified = true;
      return null;
    }
    const m = AUTH_RE.exec(authz);
    if (!m) return { status: 403, code: codes.missing, message: 'Missing Authentication Token' };
    rec.auth = 'sigv4';
    const [, akid, shortDate, region, scopeService, signedHeaderList, signature] = m as unknown as string[];
    Object.assign(rec, { accessKeyId: akid, scopeRegion: region, scopeService, sessionToken: req.headers['x-amz-security-token'] });
    const identity = fake.identities.get(akid!);
    const token = req.headers['x-amz-security-token'];
    if (!identity || (identity.sessionToken ?? undefined) !== token) {
      return { status: 403, code: codes.unknownKey, message: 'The security token included in the request is invalid.' };
    }
    if (identity.sessionExpired || (identity.expiresAtMs !== undefined && identity.expiresAtMs <= fake.clock())) {
      return { status: 403, code: codes.expired, message: 'The security token included in the request is expired' };
    }
    if (scopeService !== service) {
      return { status: 403, code: codes.badSignature, message: `Credential should be scoped to correct service: '${service}'.` };
    }
    if (region !== fake.region) return { status: 403, code: codes.badSignature, message: 'Credential should be scoped to a valid region.' };
    const amzDate = req.headers['x-amz-date'] ?? '';
    const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!dm || amzDate.slice(0, 8) !== shortDate) return { status: 403, code: codes.badSignature, message: 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.' };
    const signingDate = new Date(Date.UTC(+dm[1]!, +dm[2]! - 1, +dm[3]!, +dm[4]!, +dm[5]!, +dm[6]!));
    if (Math.abs(fake.clock() - signingDate.getTime()) > 15 * 60_000) return { status: 403, code: codes.badSignature, message: 'Signature expired.' };
    const signed = signedHeaderList!.split(';');
    for (const required of ['host', 'x-amz-date', ...(token ? ['x-amz-security-token'] : [])]) {
      if (!signed.includes(required)) return { status: 403, code: codes.badSignature, message: `'${required}' must be a signed header.` };
    }
    // Recompute the signature with an independent SigV4 implementation over exactly the signed headers.
    const url = new URL(req.path, 'http://fake');
    const headers: Record<string, string> = {};
    for (const h of signed) headers[h] = req.headers[h] ?? '';
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const [hostname, port] = (req.headers.host ?? '').split(':');
    const request = new HttpRequest({
      method: req.method,
      protocol: 'http:',
      hostname: hostname ?? '',
      ...(port ? { port: Number(port) } : {}),
      path: url.pathname,
      query,
      headers,
      ...(req.body !== '' ? { body: req.body } : {}),
    });
    const signer = new SignatureV4({
      service,
      region: fake.region,
      credentials: { accessKeyId: akid!, secretAccessKey: identity.secretAccessKey, ...(token ? { sessionToken: token } : {}) },
      sha256: Sha256,
      applyChecksum: false,
      uriEscapePath: true,
    });
    const expected = await signer.sign(request, { signingDate });
    const expectedSig = /Signature=([0-9a-f]{64})$/.exec(String(expected.headers.authorization))?.[1];
    if (expectedSig !== signature) {
      return {
        status: 403,
        code: codes.badSignature,
        message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      };
    }
    rec.verified = true;
    return null;
  }

  const handler: Handler = async (req, res) => {
    const url = new URL(req.path, 'http://fake');
    const service: 'sts' | 'bedrock' = req.method === 'POST' && url.pathname === '/' ? 'sts' : 'bedrock';
    const rec: AwsRecord = { service, path: url.pathname, auth: 'none', verified: false };
    fake.records.push(rec);
    const form = service === 'sts' ? new URLSearchParams(req.body) : new URLSearchParams();
    // AssumeRoleWithWebIdentity is the one unsigned STS action: the web identity token is the credential.
    if (service === 'sts' && form.get('Action') === 'AssumeRoleWithWebIdentity') return assumeRoleWithWebIdentity(req, res, form);
    const failed = await authenticate(req, service, rec);
    if (failed) return service === 'sts' ? stsError(res, failed.status, failed.code, failed.message) : bedrockError(res, failed.status, failed.code, failed.message);
    if (service === 'sts' && form.get('Action') === 'GetSessionToken' && form.get('Version') === '2011-06-15') {
      if (fake.stsFault) return stsError(res, fake.stsFault.status, fake.stsFault.code, 'fault');
      if (rec.sessionToken) return stsError(res, 403, 'AccessDenied', 'Cannot call GetSessionToken with session credentials');
      const duration = Number(form.get('DurationSeconds') ?? '43200');
      if (!Number.isInteger(duration) || duration < 900 || duration > 129600) return stsError(res, 400, 'ValidationError', 'DurationSeconds out of range');
      return issueTemporary(res, 'GetSessionToken', duration, {});
    }
    if (service === 'sts') {
      if (req.body !== 'Action=GetCallerIdentity&Version=2011-06-15') return stsError(res, 400, 'InvalidAction', 'Could not find operation');
      if (fake.stsFault) return stsError(res, fake.stsFault.status, fake.stsFault.code, 'fault');
      const account = fake.identities.get(rec.accessKeyId!)?.account ?? '123456789012';
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${account}:user/neo</Arn><UserId>AIDA${randomBytes(8).toString('hex').toUpperCase()}</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
      return;
    }
    if (req.method === 'GET' && url.pathname === '/foundation-models') {
      if (fake.bedrockFault) return bedrockError(res, fake.bedrockFault.status, fake.bedrockFault.code, faultMessage(fake.bedrockFault.code, url.pathname));
      return json(res, 200, {
        modelSummaries: fake.foundationModels.map((modelId) => ({
          modelArn: `arn:aws:bedrock:${fake.region}::foundation-model/${modelId}`,
          modelId,
          providerName: modelId.split('.')[0],
          inferenceTypesSupported: ['ON_DEMAND'],
        })),
      });
    }
    if (req.method === 'GET' && url.pathname === '/inference-profiles') {
      const fault = fake.profilesFault ?? fake.bedrockFault;
      if (fault) return bedrockError(res, fault.status, fault.code, faultMessage(fault.code, url.pathname));
      // The wire parameter is `type` (`typeEquals` is only the SDK's field name, and an
      // unknown query parameter is ignored, as AWS does): without it, every profile comes back.
      const type = url.searchParams.get('type');
      if (type !== null && type !== 'SYSTEM_DEFINED' && type !== 'APPLICATION') {
        return bedrockError(res, 400, 'ValidationException', `1 validation error detected: Value '${type}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]`);
      }
      const profiles = [
        ...fake.inferenceProfiles.map((inferenceProfileId) => ({ inferenceProfileId, type: 'SYSTEM_DEFINED', status: 'ACTIVE' })),
        ...fake.applicationProfiles.map((inferenceProfileId) => ({ inferenceProfileId, type: 'APPLICATION', status: 'ACTIVE' })),
      ];
      return json(res, 200, { inferenceProfileSummaries: profiles.filter((p) => type === null || p.type === type) });
    }
    bedrockError(res, 404, 'UnknownOperationException', 'unknown');
  };

  /** AWS STS AssumeRoleWithWebIdentity: verifies the token against the role's OIDC provider and trust policy. */
  async function assumeRoleWithWebIdentity(req: RecordedRequest, res: ServerResponse, form: URLSearchParams): Promise<void> {
    if (req.headers.authorization) return stsError(res, 400, 'InvalidParameterCombination', 'AssumeRoleWithWebIdentity must not be signed');
    if (form.get('Version') !== '2011-06-15') return stsError(res, 400, 'InvalidAction', 'Could not find operation');
    if (fake.stsFault) return stsError(res, fake.stsFault.status, fake.stsFault.code, 'fault');
    const roleArn = form.get('RoleArn') ?? '';
    const sessionName = form.get('RoleSessionName') ?? '';
    const token = form.get('WebIdentityToken') ?? '';
    const duration = Number(form.get('DurationSeconds') ?? '3600');
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) return stsError(res, 400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) return stsError(res, 400, 'ValidationError', 'DurationSeconds out of range');
    const role = fake.roles.get(roleArn);
    const iss = unverifiedIssuer(token);
    if (!iss) return stsError(res, 400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.');
    if (!role || role.issuer !== iss) {
      // No IAM OIDC provider for this issuer in the role's account.
      if (!role || ![...fake.roles.values()].some((r) => r.issuer === iss)) {
        return stsError(res, 400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${iss}`);
      }
      return stsError(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    const v = await verifyIssuerToken(token, { trustedIssuer: role.issuer, audience: role.audience ?? 'sts.amazonaws.com', nowMs: fake.clock(), maxLifetimeS: 86_400 });
    if (!v.ok) {
      switch (v.reason) {
        case 'discovery':
          return stsError(res, 400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements");
        case 'expired':
          return stsError(res, 400, 'ExpiredTokenException', 'Token expired: current date/time must be before the expiration date/time.');
        case 'audience':
          return stsError(res, 400, 'InvalidIdentityToken', 'Incorrect token audience');
        default:
          return stsError(res, 400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.');
      }
    }
    // The trust policy's condition on sub: another owner's token cannot assume this role.
    if (v.claims.sub !== role.subject) return stsError(res, 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    return issueTemporary(res, 'AssumeRoleWithWebIdentity', duration, { roleArn, sub: v.claims.sub, sessionName });
  }

  /** Temporary keys (ASIA…) the Bedrock side of this fake accepts until they expire. */
  function issueTemporary(res: ServerResponse, action: 'AssumeRoleWithWebIdentity' | 'GetSessionToken', durationS: number, info: { roleArn?: string; sub?: string; sessionName?: string }): void {
    const id = fake.addIdentity({ temporary: true });
    const expiresAtMs = fake.clock() + durationS * 1000;
    fake.identities.get(id.access_key_id)!.expiresAtMs = expiresAtMs;
    fake.exchanges.push({ action, ...info, accessKeyId: id.access_key_id });
    const extra =
      action === 'AssumeRoleWithWebIdentity'
        ? `<SubjectFromWebIdentityToken>${info.sub}</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><AssumedRoleUser><Arn>${info.roleArn!.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${info.sessionName}</Arn><AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${info.sessionName}</AssumedRoleId></AssumedRoleUser><Provider>oidc</Provider>`
        : '';
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <${action}Result>\n    ${extra}<Credentials>\n      <AccessKeyId>${id.access_key_id}</AccessKeyId>\n      <SecretAccessKey>${id.secret_access_key}</SecretAccessKey>\n      <SessionToken>${id.session_token}</SessionToken>\n      <Expiration>${new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>\n    </Credentials>\n  </${action}Result>\n  <ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata>\n</${action}Response>\n`,
    );
  }

  const s = await startServer(handler);
  const fake = Object.assign(fakeBase(s), {
    clock: Date.now,
    roles: new Map<string, AwsRoleTrust>(),
    exchanges: [] as AwsFake['exchanges'],
    region: opts.region ?? 'us-east-1',
    identities: new Map<string, AwsIdentity>(),
    bearerKeys: new Set<string>(),
    foundationModels: ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'amazon.nova-pro-v1:0', 'meta.llama3-70b-instruct-v1:0'],
    inferenceProfiles: ['us.anthropic.claude-sonnet-4-5-20250929-v1:0'],
    applicationProfiles: ['k3x8q2mzr7va'],
    stsFault: null,
    bedrockFault: null,
    profilesFault: null,
    records: [] as AwsRecord[],
    addIdentity(o: { temporary?: boolean; sessionExpired?: boolean } = {}) {
      const access_key_id = (o.temporary ? 'ASIA' : 'AKIA') + randomBytes(8).toString('hex').toUpperCase();
      const secret_access_key = randomBytes(30).toString('base64');
      const session_token = o.temporary ? `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}` : undefined;
      fake.identities.set(access_key_id, {
        secretAccessKey: secret_access_key,
        ...(session_token ? { sessionToken: session_token } : {}),
        ...(o.sessionExpired ? { sessionExpired: true } : {}),
      });
      return { access_key_id, secret_access_key, ...(session_token ? { session_token } : {}) };
    },
  }) as AwsFake;
  return fake;
}

// ---------------------------------------------------------------------------------------
// Azure
// ---------------------------------------------------------------------------------------

export interface AzureFake extends FakeBase {
  keys: Set<string>;
  models: string[];
  /** Answer every request with this status and Azure error body. */
  fault: { status: number; code: string; message: string } | null;
  /** Redirect every request to this URL (302). */
  redirectTo: string | null;
  /** Only the versioned route exists (`/openai/v1/models` answers 404). */
  legacyOnly: boolean;
  /** Neither route exists (not an Azure OpenAI endpoint). */
  noOpenAi: boolean;
  /** Entra access tokens accepted as `Authorization: Bearer` (issued by the Entra fake), with their expiry. */
  bearerTokens: Map<string, number>;
  clock: () => number;
}

export async function startAzureFake(): Promise<AzureFake> {
  const handler: Handler = (req, res) => {
    if (fake.redirectTo) {
      res.writeHead(302, { location: fake.redirectTo });
      res.end();
      return;
    }
    const url = new URL(req.path, 'http://fake');
    const v1 = url.pathname === '/openai/v1/models' && !fake.legacyOnly;
    const legacy = url.pathname === '/openai/models' && url.searchParams.has('api-version');
    if (req.method !== 'GET' || fake.noOpenAi || !(v1 || legacy)) return json(res, 404, { error: { code: '404', message: 'Resource not found' } });
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const bearerOk = bearer !== undefined && (fake.bearerTokens.get(bearer) ?? 0) > fake.clock();
    if (bearer !== undefined && !bearerOk) {
      return json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid or has expired.' } });
    }
    if (!bearerOk && !fake.keys.has(req.headers['api-key'] ?? '')) {
      return json(res, 401, {
        error: {
          code: '401',
          message:
            'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        },
      });
    }
    if (fake.fault) return json(res, fake.fault.status, { error: { code: fake.fault.code, message: fake.fault.message } });
    json(res, 200, { object: 'list', data: fake.models.map((id) => ({ id, object: 'model', created: 1700000000, lifecycle_status: 'generally-available' })) });
  };
  const s = await startServer(handler);
  const fake = Object.assign(fakeBase(s), {
    keys: new Set<string>(),
    models: ['gpt-5', 'gpt-4.1', 'o4-mini', 'text-embedding-3-large'],
    fault: null,
    redirectTo: null,
    legacyOnly: false,
    noOpenAi: false,
    bearerTokens: new Map<string, number>(),
    clock: Date.now,
  }) as AzureFake;
  return fake;
}

/** A random Azure-style resource key (32 hex characters). */
export function azureKey(): string {
  return randomBytes(16).toString('hex');
}

// ---------------------------------------------------------------------------------------
// Check context for adapter-level tests
// ---------------------------------------------------------------------------------------

export interface RecordingCheckContext {
  fetch: typeof fetch;
  timeoutMs: number;
  signal: AbortSignal;
  baseUrl(api: string, fallback: string): string;
  clock: () => number;
  /** Every URL the adapter asked fetch for, in order. */
  calls: string[];
}

/**
 * A CheckContext like the app's: NEO_PROVIDER_URL_* style overrides by api name, the real
 * fetch (or `inner`) wrapped to record every URL requested.
 */
export function checkContext(
  overrides: Record<string, string> = {},
  opts: { inner?: typeof fetch; timeoutMs?: number; clock?: () => number; signal?: AbortSignal } = {},
): RecordingCheckContext {
  const calls: string[] = [];
  const inner = opts.inner ?? fetch;
  return {
    calls,
    fetch: (input, init) => {
      calls.push(urlOf(input));
      return inner(input, init);
    },
    timeoutMs: opts.timeoutMs ?? 10_000,
    // The whole check's deadline; none unless a test sets one.
    signal: opts.signal ?? new AbortController().signal,
    baseUrl: (api, fallback) => overrides[api] ?? fallback,
    clock: opts.clock ?? Date.now,
  };
}

/** The URL of a fetch input. */
export function urlOf(input: string | URL | Request): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
}

/** A fetch failing like undici does when a host name does not resolve. */
export function dnsFailureFor(input: string | URL | Request): Error {
  return dnsFailure(new URL(urlOf(input)).hostname);
}

export function dnsFailure(host: string): Error {
  return Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }),
  });
}

/** A credential of the right shape for each provider. */
export function credentialFor(provider: ProviderName, base: string): { apiKey: string; location: string | null } {
  switch (provider) {
    case 'google-vertex':
      return { apiKey: makeServiceAccount().json, location: 'us-central1' };
    case 'amazon-bedrock':
      return { apiKey: JSON.stringify({ access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }), location: 'us-east-1' };
    case 'azure-foundry':
      return { apiKey: '0123456789abcdef0123456789abcdef', location: base };
    default:
      return { apiKey: 'sk-test-Q7fK2mZp9XvL4tR8wN3bQ7fK2mZp', location: null };
  }
}
