/**
 * Amazon Bedrock adapter. Two credential forms (CONTRACT.md section 4): a Bedrock API
 * key, sent as a bearer token, or IAM access keys as JSON
 * `{"access_key_id","secret_access_key","session_token"?}`, signed with SigV4 (`aws4`).
 * Access keys are proven with STS GetCallerIdentity (needs no permission), then the
 * foundation models of the region are listed. See docs/byok.md "Cloud providers".
 */
import aws4 from 'aws4';
import { invalid } from '../../errors/index.ts';
import { failed, jsonObject, modelCount, send, type Answer } from '../outbound.ts';
import { assumeRoleWithWebIdentity, noFederation, parseStsCredentials, SHORT_LIVED_SECONDS, type AwsTemporaryKeys, type Exchange } from '../federation.ts';
import { accessKeyIdHint, opaqueKeyHint } from '../hint.ts';
import type { CheckContext, CheckResult, PreparedCredential, ProviderAdapter, ShortLivedResult } from '../types.ts';

export const DEFAULT_REGION = 'us-east-1';
/** AWS region names: `us-east-1`, `eu-central-2`, `ap-southeast-4`, `us-gov-west-1`. */
const REGION_RE = /^[a-z]{2}(?:-[a-z]+){1,3}-[0-9]{1,2}$/;
/**
 * Known regions: the AWS regions where Amazon Bedrock is offered (AWS General Reference,
 * "Amazon Bedrock endpoints and quotas"). A well-formed name outside this list is refused
 * in prepare(), so a typo never leaves the server; inside it, a DNS failure means this
 * server cannot resolve names (egress rules, DNS outage), not a wrong region, and the
 * check is inconclusive. Add a region here when AWS launches Bedrock in it.
 */
export const KNOWN_REGIONS: ReadonlySet<string> = new Set([
  // United States
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  // Canada, Mexico, South America
  'ca-central-1', 'ca-west-1', 'mx-central-1', 'sa-east-1',
  // Europe
  'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3',
  // Asia Pacific
  'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
  // Middle East, Africa
  'il-central-1', 'me-central-1', 'me-south-1', 'af-south-1',
  // AWS GovCloud (US)
  'us-gov-east-1', 'us-gov-west-1',
]);
const FIND_REGIONS =
  'see "Amazon Bedrock endpoints and quotas" in the AWS General Reference, or the region menu of the Amazon Bedrock console';
/** Access key ids: 16–128 upper-case letters and digits (AKIA… long-term, ASIA… temporary). */
const ACCESS_KEY_ID_RE = /^[A-Z0-9]{16,128}$/;
const PRINTABLE = (min: number, max: number) => new RegExp(`^[\\x21-\\x7e]{${min},${max}}$`);
const SECRET_RE = PRINTABLE(16, 256);
const SESSION_TOKEN_RE = PRINTABLE(16, 8192);
const BEARER_RE = PRINTABLE(20, 8192);
/** Inference-profile pages followed at most. */
const MAX_PAGES = 5;

export type BedrockCredential =
  | { kind: 'bearer'; apiKey: string }
  | { kind: 'sigv4'; accessKeyId: string; secretAccessKey: string; sessionToken: string | undefined };

/** A keyless connection (issue 18): the IAM role this service assumes with its OIDC token. */
export interface BedrockRole {
  kind: 'role';
  roleArn: string;
}

const SIGV4_SHAPE = '{"access_key_id","secret_access_key","session_token"?}';
const ROLE_SHAPE = '{"role_arn":"arn:aws:iam::<12-digit account>:role/<name>"}';
/** IAM role ARNs (partition aws, aws-us-gov or aws-cn; an optional path; IAM's name characters). */
const ROLE_ARN_RE = /^arn:aws(?:-us-gov|-cn)?:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** The audience of the service's token for AWS (FEDERATION_AUDIENCES.aws). */
export const AWS_AUDIENCE = 'sts.amazonaws.com';

/** The keyless form `{"role_arn"}`, or undefined when the credential is not one. Throws invalid_request naming api_key when malformed. */
export function parseRole(apiKey: string): BedrockRole | undefined {
  const s = apiKey.trim();
  if (!s.startsWith('{') || !s.includes('"role_arn"')) return undefined;
  let j: unknown;
  try {
    j = JSON.parse(s);
  } catch {
    throw invalid(`api_key looks like JSON but does not parse; expected ${ROLE_SHAPE}`);
  }
  if (!j || typeof j !== 'object' || Array.isArray(j) || !('role_arn' in j)) return undefined;
  const o = j as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'role_arn');
  if (extra.length > 0) throw invalid(`api_key: a keyless Bedrock connection is ${ROLE_SHAPE} only (no access keys: nothing secret is stored)`);
  if (typeof o.role_arn !== 'string' || o.role_arn.length > 2048 || !ROLE_ARN_RE.test(o.role_arn.trim())) {
    throw invalid(`api_key: role_arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/neo-bedrock; expected ${ROLE_SHAPE}`);
  }
  return { kind: 'role', roleArn: o.role_arn.trim() };
}

/** The role session name of an owner's exchange (`neo-team-<id>`): attributes the calls in CloudTrail. */
export function roleSessionName(subject: string): string {
  return subject.replace(/:/g, '-').replace(/[^\w+=,.@-]/g, '').slice(0, 64);
}

/** The hint of a keyless connection: the role ARN (not a secret). */
function roleHint(roleArn: string): string {
  return roleArn;
}

/**
 * Parses either credential form. Throws invalid_request naming `api_key`; messages name
 * fields and shapes only, never any part of the submitted value.
 */
export function parseCredential(apiKey: string): BedrockCredential {
  const s = apiKey.trim();
  if (s.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      throw invalid(`api_key looks like JSON but does not parse; expected ${SIGV4_SHAPE} or a Bedrock API key`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(`api_key must be ${SIGV4_SHAPE}`);
    const j = parsed as Record<string, unknown>;
    if (typeof j.access_key_id !== 'string' || !ACCESS_KEY_ID_RE.test(j.access_key_id.trim())) {
      throw invalid(`api_key: access_key_id is missing or is not an AWS access key id; expected ${SIGV4_SHAPE}`);
    }
    if (typeof j.secret_access_key !== 'string' || !SECRET_RE.test(j.secret_access_key.trim())) {
      throw invalid(`api_key: secret_access_key is missing or malformed; expected ${SIGV4_SHAPE}`);
    }
    let sessionToken: string | undefined;
    if (j.session_token !== undefined && j.session_token !== null && j.session_token !== '') {
      if (typeof j.session_token !== 'string' || !SESSION_TOKEN_RE.test(j.session_token.trim())) {
        throw invalid('api_key: session_token is malformed');
      }
      sessionToken = j.session_token.trim();
    }
    const accessKeyId = j.access_key_id.trim();
    if (accessKeyId.startsWith('ASIA') && !sessionToken) {
      throw invalid('api_key: access_key_id is a temporary key (ASIA…) and needs its session_token');
    }
    return { kind: 'sigv4', accessKeyId, secretAccessKey: j.secret_access_key.trim(), sessionToken };
  }
  if (/^(?:AKIA|ASIA)[A-Z0-9]{12,124}$/.test(s)) {
    throw invalid(`api_key is an access key id alone; paste ${SIGV4_SHAPE} with its secret, or a Bedrock API key`);
  }
  if (!BEARER_RE.test(s)) {
    throw invalid(`api_key must be a Bedrock API key (one token, no spaces) or ${SIGV4_SHAPE}`);
  }
  return { kind: 'bearer', apiKey: s };
}

/** Normalizes the region: blank → us-east-1; lowercased; must look like an AWS region name (known or not). */
export function normalizeRegion(location: string | null | undefined): string {
  const r = (location ?? '').trim().toLowerCase();
  if (r === '') return DEFAULT_REGION;
  if (r.length > 32 || !REGION_RE.test(r)) throw invalid('location must be an AWS region name such as us-east-1 or eu-central-1');
  return r;
}

/** The message for a well-formed region that is not a known Bedrock region (safe to echo: it matched REGION_RE). */
function unknownRegion(region: string): string {
  return `location: unknown region "${region}" for Amazon Bedrock; use a region where Bedrock is offered, such as us-east-1, us-west-2 or eu-central-1 (for the full list, ${FIND_REGIONS})`;
}

/** Regional endpoint origin of an AWS service. */
export function awsOrigin(service: 'sts' | 'bedrock', region: string): string {
  return `https://${service}.${region}.amazonaws.com`;
}

interface AwsCall {
  service: 'sts' | 'bedrock';
  origin: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

/** Sends one AWS call, signed with SigV4 or carrying the Bedrock API key as a bearer token. */
async function awsSend(call: AwsCall, cred: BedrockCredential, region: string, ctx: CheckContext) {
  const url = new URL(call.origin);
  // An override may carry a path prefix; the signature covers the full path.
  const path = `${url.pathname.replace(/\/+$/, '')}${call.path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (call.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
  if (cred.kind === 'bearer') {
    headers.authorization = `Bearer ${cred.apiKey}`;
  } else {
    const signer = new aws4.RequestSigner(
      { host: url.host, path, method: call.method, service: call.service, region, headers, ...(call.body !== undefined ? { body: call.body } : {}) },
      { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken ? { sessionToken: cred.sessionToken } : {}) },
    );
    // Sign with the injected clock, not aws4's own `new Date()`.
    signer.datetime = new Date(ctx.clock()).toISOString().replace(/[:-]|\.\d{3}/g, '');
    signer.sign();
    // fetch derives Host and Content-Length itself, with the values aws4 signed.
    for (const [k, v] of Object.entries(signer.request.headers ?? {})) {
      const name = k.toLowerCase();
      if (name !== 'host' && name !== 'content-length' && v !== undefined) headers[name] = String(v);
    }
  }
  return send(ctx, `${url.origin}${path}`, { method: call.method, headers, ...(call.body !== undefined ? { body: call.body } : {}) });
}

/** What an AWS error code looks like (`AccessDeniedException`, `Throttling`, `Sender.Foo`). */
const AWS_CODE_RE = /^[A-Za-z0-9.]{1,64}$/;

/**
 * Normalizes a raw AWS error code: drops the `:<url>` suffix and the `namespace#` prefix,
 * and returns '' (unknown) unless what is left looks like an AWS code. The code ends up in
 * user-facing messages, so an arbitrary header or body value must never pass through.
 */
export function cleanAwsCode(raw: string): string {
  const code = raw.split(':')[0]!.split('#').pop()!.trim();
  return AWS_CODE_RE.test(code) ? code : '';
}

/**
 * The AWS error code of a failed call: x-amzn-ErrorType header, JSON `__type`/`code`, or
 * XML `<Code>`; '' when absent or not shaped like an AWS code.
 */
export function awsErrorCode(res: Answer): string {
  const header = res.headers.get('x-amzn-errortype');
  if (header) return cleanAwsCode(header);
  const json = jsonObject(res);
  if (json) {
    const nested = json.Error && typeof json.Error === 'object' ? (json.Error as Record<string, unknown>).Code : undefined;
    for (const c of [json.__type, json.code, json.Code, nested]) {
      if (typeof c === 'string' && c) return cleanAwsCode(c);
    }
    return '';
  }
  return cleanAwsCode(/<Code>([^<]*)<\/Code>/.exec(res.text)?.[1] ?? '');
}

const REJECTED_CODES = new Set([
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'ExpiredToken',
  'ExpiredTokenException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
]);
const RATE_CODES = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/**
 * The error message of an AWS JSON error body (`message` or `Message`), lower-cased, for
 * matching only: it is never passed on.
 */
function awsErrorMessage(res: Answer): string {
  const json = jsonObject(res);
  const m = json?.message ?? json?.Message;
  return typeof m === 'string' ? m.toLowerCase() : '';
}

/**
 * How Bedrock refuses a Bedrock API key it cannot use (wrong, malformed, expired): 403
 * `AccessDeniedException` like a missing permission, told apart only by the message
 * ("Authentication failed: …", "Invalid API Key format: …").
 */
const BEARER_AUTH_FAILED_RE = /authentication failed/;
const BEARER_BAD_FORMAT_RE = /invalid api key format/;

/** Sorts a non-200 AWS answer into an outcome with a plain message (never the body's text). */
function awsOutcome(res: Answer, cred: BedrockCredential, region: string, what: 'sts' | 'bedrock'): CheckResult {
  const code = awsErrorCode(res);
  const bearer = cred.kind === 'bearer';
  if (bearer && (code === 'AccessDeniedException' || res.status === 403)) {
    const text = awsErrorMessage(res);
    if (BEARER_BAD_FORMAT_RE.test(text)) {
      return { outcome: 'rejected', message: 'this is not a Bedrock API key: AWS says its format is invalid; paste the whole key, or the access keys as JSON' };
    }
    if (BEARER_AUTH_FAILED_RE.test(text)) {
      return { outcome: 'rejected', message: 'AWS did not accept this Bedrock API key (unknown, revoked or expired)' };
    }
  }
  if (REJECTED_CODES.has(code) || res.status === 401) {
    let message: string;
    if (bearer) message = 'AWS did not accept this Bedrock API key (unknown, revoked or expired)';
    else if (code === 'SignatureDoesNotMatch' || code === 'InvalidSignatureException')
      message = 'AWS rejected the signature: the secret_access_key does not belong to this access_key_id';
    else if (code === 'ExpiredToken' || code === 'ExpiredTokenException')
      message = 'the session_token has expired; create new temporary credentials';
    else if (code === 'InvalidClientTokenId' || code === 'UnrecognizedClientException')
      message = cred.sessionToken
        ? 'AWS does not recognize this access_key_id and session_token pair'
        : 'AWS does not recognize this access_key_id (deleted, inactive, or temporary keys without their session_token)';
    else message = `AWS rejected these credentials (${code || `HTTP ${res.status}`})`;
    const expired = !bearer && (code === 'ExpiredToken' || code === 'ExpiredTokenException');
    return { outcome: 'rejected', message, ...(expired ? { expired: true } : {}) };
  }
  if (RATE_CODES.has(code) || res.status === 429) {
    return { outcome: 'rate_limited', message: `AWS is throttling requests in ${region}; try again later` };
  }
  if (code === 'RegionDisabledException') {
    return { outcome: 'restricted', message: `region ${region} is not enabled for this AWS account; enable it or choose another region` };
  }
  if (code === 'AccessDeniedException' || code === 'AccessDenied') {
    return what === 'bedrock'
      ? {
          outcome: 'restricted',
          message: `the credentials are valid but may not list Bedrock models in ${region}; allow bedrock:ListFoundationModels and bedrock:InvokeModel*`,
        }
      : { outcome: 'restricted', message: `AWS STS refused access in ${region}` };
  }
  if (res.status >= 500) {
    return { outcome: 'unavailable', message: `${what === 'sts' ? 'AWS STS' : 'Amazon Bedrock'} is unavailable (HTTP ${res.status}); try again later` };
  }
  return {
    outcome: 'unavailable',
    message: `${what === 'sts' ? 'AWS STS' : 'Amazon Bedrock'} gave an unexpected answer (${code || `HTTP ${res.status}`}); try again later`,
  };
}

export function createAdapter(): ProviderAdapter {
  return {
    name: 'amazon-bedrock',
    displayName: 'Amazon Bedrock',
    liveCheck: true,
    prepare({ apiKey, location }): PreparedCredential {
      const role = parseRole(apiKey);
      const region = normalizeRegion(location);
      if (role) {
        if (!KNOWN_REGIONS.has(region)) throw invalid(unknownRegion(region));
        return { apiKey: JSON.stringify({ role_arn: role.roleArn }), location: region, keyHint: roleHint(role.roleArn), federated: true };
      }
      const cred = parseCredential(apiKey);
      if (!KNOWN_REGIONS.has(region)) throw invalid(unknownRegion(region));
      return cred.kind === 'bearer'
        ? { apiKey: cred.apiKey, location: region, keyHint: opaqueKeyHint(cred.apiKey) }
        : { apiKey, location: region, keyHint: accessKeyIdHint(cred.accessKeyId) };
    },
    async shortLived(credential, ctx): Promise<ShortLivedResult | null> {
      let parsed: BedrockRole | BedrockCredential;
      let region: string;
      try {
        parsed = parseRole(credential.apiKey) ?? parseCredential(credential.apiKey);
        region = normalizeRegion(credential.location);
      } catch {
        return { ok: false, result: { outcome: 'rejected', message: 'the credential or region is malformed' } };
      }
      if (!KNOWN_REGIONS.has(region)) return { ok: false, result: { outcome: 'rejected', message: unknownRegion(region) } };
      // A Bedrock API key, or keys that are already temporary: no shorter form (GetSessionToken refuses temporary keys).
      if (parsed.kind === 'bearer' || (parsed.kind === 'sigv4' && parsed.sessionToken)) return null;
      const got = parsed.kind === 'role' ? await assumeRole(parsed, region, ctx) : await getSessionToken(parsed, region, ctx);
      if (!got.ok) return got;
      const k = got.value;
      return {
        ok: true,
        credential: {
          kind: 'aws_access_keys',
          apiKey: JSON.stringify({ access_key_id: k.accessKeyId, secret_access_key: k.secretAccessKey, session_token: k.sessionToken }),
          expiresAtMs: k.expiresAtMs,
        },
      };
    },
    async check(credential, ctx): Promise<CheckResult> {
      let cred: BedrockCredential;
      let region: string;
      let role: BedrockRole | undefined;
      try {
        role = parseRole(credential.apiKey);
        region = normalizeRegion(credential.location);
      } catch {
        return { outcome: 'rejected', message: 'the credential or region is malformed' };
      }
      // Re-checked here too: an unknown region is never called (so a DNS failure below is never a typo).
      if (!KNOWN_REGIONS.has(region)) return { outcome: 'rejected', message: unknownRegion(region) };
      if (role) {
        // Keyless: the temporary credentials of the role are checked exactly as stored keys are (step 2).
        const got = await assumeRole(role, region, ctx);
        if (!got.ok) return got.result;
        cred = { kind: 'sigv4', accessKeyId: got.value.accessKeyId, secretAccessKey: got.value.secretAccessKey, sessionToken: got.value.sessionToken };
      } else {
        try {
          cred = parseCredential(credential.apiKey);
        } catch {
          return { outcome: 'rejected', message: 'the credential or region is malformed' };
        }
      }
      if (cred.kind === 'sigv4' && !role) {
        // Step 1: GetCallerIdentity proves the keys and needs no IAM permission.
        const sts = await awsSend(
          {
            service: 'sts',
            origin: ctx.baseUrl('aws-sts', awsOrigin('sts', region)),
            method: 'POST',
            path: '/',
            body: 'Action=GetCallerIdentity&Version=2011-06-15',
          },
          cred,
          region,
          ctx,
        );
        // A DNS failure for a known region: this server cannot resolve names (inconclusive).
        if (sts.kind === 'failure') return failed(`AWS STS in ${region}`, sts.reason);
        if (sts.status !== 200) return awsOutcome(sts, cred, region, 'sts');
      }
      // Step 2: the foundation models of the region (the only step for a Bedrock API key).
      const origin = ctx.baseUrl('amazon-bedrock', awsOrigin('bedrock', region));
      const listed = await awsSend({ service: 'bedrock', origin, method: 'GET', path: '/foundation-models' }, cred, region, ctx);
      if (listed.kind === 'failure') return failed(`Amazon Bedrock in ${region}`, listed.reason);
      if (listed.status !== 200) return awsOutcome(listed, cred, region, 'bedrock');
      const body = jsonObject(listed);
      if (!Array.isArray(body?.modelSummaries)) {
        return { outcome: 'unavailable', message: 'Amazon Bedrock gave an unexpected answer; try again later' };
      }
      const ids = new Set<string>();
      for (const m of body.modelSummaries as unknown[]) addId(ids, m, 'modelId');
      for (const id of await inferenceProfiles(origin, cred, region, ctx)) ids.add(id);
      const models = [...ids].sort();
      const who = role ? `role ${role.roleArn} assumed (keyless)` : cred.kind === 'bearer' ? 'Bedrock API key' : 'access keys';
      return { outcome: 'accepted', message: `${who} accepted; ${modelCount(models.length)} listed in ${region}`, models };
    },
  };
}

/** AssumeRoleWithWebIdentity with the owner's token (audience sts.amazonaws.com). */
async function assumeRole(role: BedrockRole, region: string, ctx: CheckContext): Promise<Exchange<AwsTemporaryKeys>> {
  if (!ctx.federation) return noFederation();
  let token: string;
  try {
    token = await ctx.federation.mintToken(AWS_AUDIENCE);
  } catch {
    return noFederation();
  }
  return assumeRoleWithWebIdentity(ctx, {
    origin: ctx.baseUrl('aws-sts', awsOrigin('sts', region)),
    region,
    roleArn: role.roleArn,
    sessionName: roleSessionName(ctx.federation.subject),
    token,
  });
}

/** GetSessionToken with stored long-term keys (SigV4-signed): one-hour temporary keys for the runtime. */
async function getSessionToken(cred: Extract<BedrockCredential, { kind: 'sigv4' }>, region: string, ctx: CheckContext): Promise<Exchange<AwsTemporaryKeys>> {
  const sent = await awsSend(
    {
      service: 'sts',
      origin: ctx.baseUrl('aws-sts', awsOrigin('sts', region)),
      method: 'POST',
      path: '/',
      body: `Action=GetSessionToken&Version=2011-06-15&DurationSeconds=${SHORT_LIVED_SECONDS}`,
    },
    cred,
    region,
    ctx,
  );
  if (sent.kind === 'failure') return { ok: false, result: failed(`AWS STS in ${region}`, sent.reason) };
  if (sent.status !== 200) return { ok: false, result: awsOutcome(sent, cred, region, 'sts') };
  const keys = parseStsCredentials(sent.text);
  return keys ? { ok: true, value: keys } : { ok: false, result: { outcome: 'unavailable', message: `AWS STS in ${region} gave an unexpected answer; try again later` } };
}

function addId(ids: Set<string>, item: unknown, field: string): void {
  if (!item || typeof item !== 'object') return;
  const id = (item as Record<string, unknown>)[field];
  if (typeof id === 'string' && /^[A-Za-z0-9._:/-]{1,200}$/.test(id)) ids.add(id);
}

/**
 * System-defined cross-region inference profiles (`us.anthropic.…`), which newer models
 * need for on-demand use. Best effort: without bedrock:ListInferenceProfiles the check
 * still succeeds with the foundation models alone.
 */
async function inferenceProfiles(origin: string, cred: BedrockCredential, region: string, ctx: CheckContext): Promise<string[]> {
  const ids = new Set<string>();
  let nextToken = '';
  for (let page = 0; page < MAX_PAGES; page++) {
    // On the wire the filter is `type` (`typeEquals` is only the SDK's field name; AWS ignores
    // an unknown parameter and would list application profiles too).
    const query = new URLSearchParams({ maxResults: '1000', type: 'SYSTEM_DEFINED' });
    if (nextToken) query.set('nextToken', nextToken);
    const res = await awsSend({ service: 'bedrock', origin, method: 'GET', path: `/inference-profiles?${query.toString()}` }, cred, region, ctx);
    if (res.kind === 'failure' || res.status !== 200) break;
    const body = jsonObject(res);
    if (!Array.isArray(body?.inferenceProfileSummaries)) break;
    for (const p of body.inferenceProfileSummaries as unknown[]) addId(ids, p, 'inferenceProfileId');
    nextToken = typeof body.nextToken === 'string' ? body.nextToken : '';
    if (!nextToken) break;
  }
  return [...ids];
}
