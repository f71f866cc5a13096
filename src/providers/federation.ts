/**
 * The token exchanges of keyless cloud connections (issue 18, docs/keyless-cloud.md) and
 * of short-lived delivery for stored cloud keys: what the service sends to AWS STS,
 * Google STS + IAM Credentials and Microsoft Entra, in the wire format the official SDKs
 * use (test/sdk-fidelity.test.ts compares them), and how it reads the answers.
 *
 * Every host is fixed (per known region for AWS STS): nothing in a credential is a URL;
 * the NEO_PROVIDER_URL_* overrides exist for tests and egress proxies. The service's own
 * OIDC token and the cloud's answer are never logged and never leave this module except
 * as the credential asked for; failures are check outcomes with plain messages that never
 * quote a cloud's body.
 */
import { jsonObject, say, send, type Answer, type CallFailure } from './outbound.ts';
import type { CheckContext, CheckResult, ProviderName } from './types.ts';

export const GOOGLE_STS_ORIGIN = 'https://sts.googleapis.com';
export const GOOGLE_IAM_CREDENTIALS_ORIGIN = 'https://iamcredentials.googleapis.com';
export const AZURE_LOGIN_ORIGIN = 'https://login.microsoftonline.com';
/** What every short-lived credential is asked for: one hour (the runtime holds nothing longer). */
export const SHORT_LIVED_SECONDS = 3600;
export const AZURE_COGNITIVE_SCOPE = 'https://cognitiveservices.azure.com/.default';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type Exchange<T> = { ok: true; value: T } | { ok: false; result: CheckResult };

export interface AwsTemporaryKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAtMs: number;
}

export interface AccessToken {
  token: string;
  expiresAtMs: number;
}

const fail = (outcome: CheckResult['outcome'], message: string): { ok: false; result: CheckResult } => ({ ok: false, result: { outcome, message } });
const network = (reason: CallFailure, what: string) => fail('unavailable', say.failure(what, reason));

// ---------------------------------------------------------------------------------------
// AWS STS (Query API, XML answers)
// ---------------------------------------------------------------------------------------

/** The text of the first `<name>` element of an XML answer, entities decoded; '' when absent. */
export function xmlText(xml: string, name: string): string {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  if (!m) return '';
  return m[1]!
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
    .trim();
}

/** The `<Credentials>` of an AssumeRoleWithWebIdentity or GetSessionToken answer, or undefined when not the documented XML. */
export function parseStsCredentials(xml: string): AwsTemporaryKeys | undefined {
  const block = /<Credentials>([\s\S]*?)<\/Credentials>/.exec(xml)?.[1];
  if (!block) return undefined;
  const accessKeyId = xmlText(block, 'AccessKeyId');
  const secretAccessKey = xmlText(block, 'SecretAccessKey');
  const sessionToken = xmlText(block, 'SessionToken');
  const expiresAtMs = Date.parse(xmlText(block, 'Expiration'));
  if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId) || !/^[\x21-\x7e]{16,256}$/.test(secretAccessKey)) return undefined;
  if (!/^[\x21-\x7e]{16,8192}$/.test(sessionToken) || Number.isNaN(expiresAtMs)) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken, expiresAtMs };
}

/** AWS error code of an STS answer (`<Code>` of the XML ErrorResponse); '' when absent or odd. */
function stsCode(res: Answer): string {
  const code = xmlText(res.text, 'Code');
  return /^[A-Za-z0-9.]{1,64}$/.test(code) ? code : '';
}

/**
 * AssumeRoleWithWebIdentity: the service's token for `sts.amazonaws.com` against the
 * customer's role. Unsigned (the service has no AWS credentials of its own), as the SDK
 * sends it: POST form body, regional STS endpoint of the connection's region.
 */
export async function assumeRoleWithWebIdentity(
  ctx: CheckContext,
  args: { origin: string; region: string; roleArn: string; sessionName: string; token: string },
): Promise<Exchange<AwsTemporaryKeys>> {
  const body = new URLSearchParams({
    RoleArn: args.roleArn,
    RoleSessionName: args.sessionName,
    WebIdentityToken: args.token,
    DurationSeconds: String(SHORT_LIVED_SECONDS),
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
  }).toString();
  const what = `AWS STS in ${args.region}`;
  const sent = await send(ctx, `${args.origin}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/xml' },
    body,
  });
  if (sent.kind === 'failure') return network(sent.reason, what);
  if (sent.status === 200) {
    const keys = parseStsCredentials(sent.text);
    return keys ? { ok: true, value: keys } : fail('unavailable', `${what} gave an unexpected answer; try again later`);
  }
  return { ok: false, result: assumeRoleError(sent, args.roleArn, args.region) };
}

/** Sorts an AssumeRoleWithWebIdentity refusal (AWS STS API reference, "Errors"). */
function assumeRoleError(res: Answer, roleArn: string, region: string): CheckResult {
  const code = stsCode(res);
  const text = xmlText(res.text, 'Message').toLowerCase();
  if (code === 'Throttling' || res.status === 429) return { outcome: 'rate_limited', message: `AWS STS is throttling requests in ${region}; try again later` };
  if (res.status >= 500) return { outcome: 'unavailable', message: `AWS STS is unavailable (HTTP ${res.status}); try again later` };
  switch (code) {
    case 'AccessDenied':
      return {
        outcome: 'rejected',
        message: `AWS refused to let this service assume ${roleArn}: the role's trust policy must allow sts:AssumeRoleWithWebIdentity for this service's OIDC provider with the condition on sub and aud shown by GET /api/v1/byok/federation`,
      };
    case 'IDPRejectedClaim':
      return { outcome: 'rejected', message: `AWS rejected the token's claims for ${roleArn}: check the trust policy's conditions on sub and aud` };
    case 'InvalidIdentityToken':
      // AWS reports a failed fetch of this issuer's keys with the same code: inconclusive.
      if (/retrieve verification key|unable to fetch|thumbprint/.test(text)) {
        return {
          outcome: 'unavailable',
          message: "AWS could not fetch this service's OIDC signing keys (is NEO_OIDC_ISSUER reachable from the internet?); try again later",
        };
      }
      return {
        outcome: 'rejected',
        message: "AWS did not accept this service's token: create the IAM OIDC provider for this service's issuer with the audience sts.amazonaws.com in the role's account (GET /api/v1/byok/federation shows the values)",
      };
    case 'IDPCommunicationError':
      return { outcome: 'unavailable', message: "AWS could not reach this service's OIDC issuer to verify its token; try again later" };
    case 'ExpiredTokenException':
    case 'ExpiredToken':
      return { outcome: 'unavailable', message: "AWS found this service's token expired, which points at this server's clock; the operator should check it (NTP); try again later" };
    case 'RegionDisabledException':
      return { outcome: 'rejected', message: `AWS STS is not activated in ${region} for the role's account; activate the region or choose another` };
    case 'ValidationError':
    case 'MalformedPolicyDocument':
      return { outcome: 'rejected', message: `AWS refused the request for ${roleArn} as invalid (${code}); check the role ARN` };
    default:
      return { outcome: 'unavailable', message: `AWS STS gave an unexpected answer (${code || `HTTP ${res.status}`}); try again later` };
  }
}

// ---------------------------------------------------------------------------------------
// Google: STS token exchange (RFC 8693) + IAM Credentials generateAccessToken
// ---------------------------------------------------------------------------------------

/** Google STS: the service's token for the workload identity provider's audience → a federated access token. */
export async function googleStsExchange(ctx: CheckContext, args: { audience: string; token: string }): Promise<Exchange<AccessToken>> {
  const url = `${ctx.baseUrl('google-sts', GOOGLE_STS_ORIGIN)}/v1/token`;
  const sent = await send(ctx, url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      audience: args.audience,
      scope: CLOUD_PLATFORM_SCOPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      subject_token: args.token,
      subject_token_type: JWT_TOKEN_TYPE,
    }).toString(),
  });
  if (sent.kind === 'failure') return network(sent.reason, 'Google STS');
  const body = jsonObject(sent);
  if (sent.status === 200) {
    const token = body?.access_token;
    const expiresIn = body?.expires_in;
    if (typeof token !== 'string' || token === '' || !/^[\x21-\x7e]+$/.test(token)) return fail('unavailable', 'Google STS gave an unexpected answer; try again later');
    const seconds = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : SHORT_LIVED_SECONDS;
    return { ok: true, value: { token, expiresAtMs: ctx.clock() + seconds * 1000 } };
  }
  return { ok: false, result: googleStsError(sent.status, body) };
}

/** Google STS errors (RFC 6749/8693 `{error, error_description}`; the description is matched, never echoed). */
function googleStsError(status: number, body: Record<string, unknown> | undefined): CheckResult {
  const code = typeof body?.error === 'string' ? body.error : '';
  const text = typeof body?.error_description === 'string' ? body.error_description.toLowerCase() : '';
  if (status === 429) return { outcome: 'rate_limited', message: 'Google STS is rate limiting requests; try again later' };
  if (status >= 500) return { outcome: 'unavailable', message: `Google STS is unavailable (HTTP ${status}); try again later` };
  if (/in the future|has expired|expired|iat/.test(text) && code === 'invalid_grant') {
    return { outcome: 'unavailable', message: "Google refused this service's token as outside its time window, which points at this server's clock; the operator should check it (NTP); try again later" };
  }
  if (/public key|jwks|retrieve|fetch/.test(text)) {
    return { outcome: 'unavailable', message: "Google could not fetch this service's OIDC signing keys (is NEO_OIDC_ISSUER reachable from the internet?); try again later" };
  }
  if (code === 'invalid_grant' || code === 'invalid_target' || code === 'unauthorized_client' || code === 'invalid_client' || code === 'access_denied' || status === 401 || status === 403) {
    return {
      outcome: 'rejected',
      message: `Google STS refused this service's token (${code || `HTTP ${status}`}): check that the workload identity pool and provider exist and are enabled, that the provider's issuer is this service's NEO_OIDC_ISSUER, and that its attribute condition admits this owner's sub`,
    };
  }
  return { outcome: 'unavailable', message: `Google STS gave an unexpected answer (HTTP ${status}); try again later` };
}

/** IAM Credentials generateAccessToken: the federated token impersonates the service account. */
export async function googleGenerateAccessToken(ctx: CheckContext, args: { serviceAccountEmail: string; federatedToken: string }): Promise<Exchange<AccessToken>> {
  const base = ctx.baseUrl('google-iam-credentials', GOOGLE_IAM_CREDENTIALS_ORIGIN);
  // The address as the SDKs send it (`@` unescaped); the adapter has held it to a service-account address pattern.
  const url = `${base}/v1/projects/-/serviceAccounts/${args.serviceAccountEmail}:generateAccessToken`;
  const sent = await send(ctx, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${args.federatedToken}` },
    body: JSON.stringify({ scope: [CLOUD_PLATFORM_SCOPE], lifetime: `${SHORT_LIVED_SECONDS}s` }),
  });
  if (sent.kind === 'failure') return network(sent.reason, 'Google IAM Credentials');
  const body = jsonObject(sent);
  if (sent.status === 200) {
    const token = body?.accessToken;
    const expiresAtMs = typeof body?.expireTime === 'string' ? Date.parse(body.expireTime) : NaN;
    if (typeof token !== 'string' || token === '' || !/^[\x21-\x7e]+$/.test(token) || Number.isNaN(expiresAtMs)) {
      return fail('unavailable', 'Google IAM Credentials gave an unexpected answer; try again later');
    }
    return { ok: true, value: { token, expiresAtMs } };
  }
  const status = sent.status;
  if (status === 429) return fail('rate_limited', 'Google IAM Credentials is rate limiting requests; try again later');
  if (status >= 500) return fail('unavailable', `Google IAM Credentials is unavailable (HTTP ${status}); try again later`);
  if (status === 401 || status === 403 || status === 404 || status === 400) {
    return fail(
      'rejected',
      `Google refused to let the workload identity impersonate ${args.serviceAccountEmail} (HTTP ${status}): grant this owner's principal roles/iam.workloadIdentityUser on the service account (GET /api/v1/byok/federation shows the command), and check that the account exists and is enabled`,
    );
  }
  return fail('unavailable', `Google IAM Credentials gave an unexpected answer (HTTP ${status}); try again later`);
}

// ---------------------------------------------------------------------------------------
// Microsoft Entra: client-credentials grant with a client assertion
// ---------------------------------------------------------------------------------------

/** AADSTS codes that mean this service's own clock or issuer is at fault (inconclusive), not the customer's setup. */
const AADSTS_INCONCLUSIVE = new Set([700024, 50166, 50196]);

/** Entra v2.0 token endpoint: client credentials, the service's token as `client_assertion`. */
export async function entraClientAssertion(ctx: CheckContext, args: { tenantId: string; clientId: string; token: string }): Promise<Exchange<AccessToken>> {
  const url = `${ctx.baseUrl('azure-login', AZURE_LOGIN_ORIGIN)}/${encodeURIComponent(args.tenantId)}/oauth2/v2.0/token`;
  const sent = await send(ctx, url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json' },
    body: new URLSearchParams({
      client_id: args.clientId,
      scope: AZURE_COGNITIVE_SCOPE,
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: args.token,
    }).toString(),
  });
  if (sent.kind === 'failure') return network(sent.reason, 'Microsoft Entra');
  const body = jsonObject(sent);
  if (sent.status === 200) {
    const token = body?.access_token;
    const expiresIn = body?.expires_in;
    const seconds = typeof expiresIn === 'number' ? expiresIn : typeof expiresIn === 'string' ? Number(expiresIn) : NaN;
    if (typeof token !== 'string' || token === '' || !/^[\x21-\x7e]+$/.test(token) || !(seconds > 0)) {
      return fail('unavailable', 'Microsoft Entra gave an unexpected answer; try again later');
    }
    return { ok: true, value: { token, expiresAtMs: ctx.clock() + seconds * 1000 } };
  }
  return { ok: false, result: entraError(sent.status, body, args) };
}

/** The AADSTS number of an Entra error (`error_codes[0]`, or the `AADSTSnnnn` prefix of the description). */
export function aadstsCode(body: Record<string, unknown> | undefined): number | undefined {
  const codes = body?.error_codes;
  if (Array.isArray(codes) && typeof codes[0] === 'number') return codes[0];
  const m = typeof body?.error_description === 'string' ? /AADSTS(\d{4,7})/.exec(body.error_description) : null;
  return m ? Number(m[1]) : undefined;
}

/** Sorts an Entra refusal (`{error, error_description, error_codes}`; only the AADSTS number is shown). */
function entraError(status: number, body: Record<string, unknown> | undefined, args: { tenantId: string; clientId: string }): CheckResult {
  // Shown only when it is an OAuth error code (RFC 6749 5.2): never other text of the body.
  const code = typeof body?.error === 'string' && /^[a-z_]{1,64}$/.test(body.error) ? body.error : '';
  const aadsts = aadstsCode(body);
  const tag = aadsts !== undefined ? `AADSTS${aadsts}` : code || `HTTP ${status}`;
  if (status === 429) return { outcome: 'rate_limited', message: 'Microsoft Entra is throttling requests; try again later' };
  if (status >= 500) return { outcome: 'unavailable', message: `Microsoft Entra is unavailable (HTTP ${status}); try again later` };
  if (aadsts !== undefined && AADSTS_INCONCLUSIVE.has(aadsts)) {
    return {
      outcome: 'unavailable',
      message: `Microsoft Entra could not verify this service's token (${tag}: its time window, or Entra could not fetch this service's OIDC discovery document; the operator should check the server's clock and that NEO_OIDC_ISSUER is reachable); try again later`,
    };
  }
  if (aadsts === 90002 || aadsts === 900023) return { outcome: 'rejected', message: `Microsoft Entra does not know the tenant ${args.tenantId} (${tag})` };
  if (aadsts === 700016) return { outcome: 'rejected', message: `no application with client id ${args.clientId} exists in tenant ${args.tenantId} (${tag})` };
  if (aadsts !== undefined && [70021, 700211, 700212, 700213].includes(aadsts)) {
    return {
      outcome: 'rejected',
      message: `Microsoft Entra found no federated credential on application ${args.clientId} that matches this service's token (${tag}): add one with this service's issuer, this owner's subject and the audience api://AzureADTokenExchange (GET /api/v1/byok/federation shows the command)`,
    };
  }
  if (code === 'invalid_client' || code === 'unauthorized_client' || code === 'invalid_grant' || code === 'invalid_scope' || status === 401 || status === 400) {
    return { outcome: 'rejected', message: `Microsoft Entra refused the keyless sign-in for application ${args.clientId} (${tag})` };
  }
  return { outcome: 'unavailable', message: `Microsoft Entra gave an unexpected answer (${tag}); try again later` };
}

/** Without NEO_OIDC_ISSUER (or outside an owner's request) a keyless connection cannot be exchanged. */
export function noFederation(): { ok: false; result: CheckResult } {
  return fail(
    'unavailable',
    'keyless cloud connections need NEO_OIDC_ISSUER (the public https URL of this service) to be configured; ask the operator (see docs/keyless-cloud.md)',
  );
}

/** The stored JSON of a keyless connection starts with its identifying field (the adapters store it normalized). */
const FEDERATED_PREFIX: Partial<Record<ProviderName, string>> = {
  'amazon-bedrock': '{"role_arn"',
  'google-vertex': '{"workload_identity_provider"',
  'azure-foundry': '{"tenant_id"',
};

/** Whether a stored secret is a keyless connection (a constant-time prefix test: the plain path stays cheap). */
export function isFederatedSecret(provider: ProviderName, secret: string): boolean {
  const p = FEDERATED_PREFIX[provider];
  return p !== undefined && secret.startsWith(p);
}

