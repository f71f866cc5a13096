/**
 * The token exchanges of keyless cloud connections and of `short_lived` resolve (issue 18)
 * against the official SDKs, as test/sdk-fidelity.test.ts does for the key checks: the
 * SDK's request and the service's go to the same local capture server and must agree on
 * method, path, content type and every protocol parameter.
 *
 * - AWS STS AssumeRoleWithWebIdentity (unsigned) and GetSessionToken (SigV4, verified by
 *   the AWS fake with @smithy/signature-v4): `@aws-sdk/client-sts`.
 * - Google STS token exchange + IAM Credentials generateAccessToken: the external-account
 *   (identity pool) client of `google-auth-library`, with a subject-token supplier.
 * - Microsoft Entra client credentials with a client assertion: `ClientAssertionCredential`
 *   of `@azure/identity` (MSAL underneath). MSAL adds client telemetry (`client_info`,
 *   `client-request-id`, `x-client-*`), which the service does not send: the comparison covers every OAuth
 *   parameter and lists what the SDK adds.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AssumeRoleWithWebIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { ClientAssertionCredential } from '@azure/identity';
import type { HttpClient, HttpHeaders, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { IdentityPoolClient } from 'google-auth-library';
import { createAdapter as amazonBedrock } from '../src/providers/amazon-bedrock/index.ts';
import { createAdapter as azureFoundry } from '../src/providers/azure-foundry/index.ts';
import { createAdapter as googleVertex } from '../src/providers/google-vertex/index.ts';
import type { CheckContext, ProviderAdapter } from '../src/providers/types.ts';
import { startCaptureServer, type CapturedAnswer, type CapturedRequest, type CaptureServer } from './fakes/capture-server.ts';
import { checkContext, startAwsFake, type AwsFake } from './fakes/cloud-providers.ts';

/** A stand-in for the issuer's token (the capture server verifies nothing; both senders carry the same one). */
const TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6Im5lby0xIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2J5b2suZXhhbXBsZS5jb20iLCJzdWIiOiJuZW86dGVhbTphYmMifQ.c2lnbmF0dXJl';
const SUBJECT = 'neo:team:0194f2a3-7c1d-7a2b-9c3d-4e5f6a7b8c9d';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/neo-bedrock';
const WIP = 'projects/123456789012/locations/global/workloadIdentityPools/neo-pool/providers/neo-provider';
const SA_EMAIL = 'neo-vertex@neo-test-project.iam.gserviceaccount.com';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = '5d3c0f5e-8b1a-4c7e-9a2f-0e6b7d8c9a10';

/** A check context whose federation mints TOKEN and records the audiences asked for. */
function keylessContext(overrides: Record<string, string>): CheckContext & { audiences: string[] } {
  const audiences: string[] = [];
  return {
    ...checkContext(overrides, { timeoutMs: 10_000 }),
    audiences,
    federation: {
      subject: SUBJECT,
      mintToken: async (audience) => {
        audiences.push(audience);
        return TOKEN;
      },
    },
  };
}

function shortLived(adapter: ProviderAdapter, apiKey: string, location: string, ctx: CheckContext) {
  return adapter.shortLived!(adapter.prepare({ apiKey, location }), ctx);
}

async function sent(server: CaptureServer, run: () => Promise<unknown>): Promise<CapturedRequest[]> {
  const mark = server.requests.length;
  await run().catch(() => undefined);
  return server.since(mark);
}

function one(reqs: CapturedRequest[], path: string): CapturedRequest {
  const found = reqs.filter((r) => r.path === path);
  assert.equal(found.length, 1, `one request to ${path}, got ${found.length} (${reqs.map((r) => r.path).join(', ')})`);
  return found[0]!;
}

function mediaType(r: CapturedRequest): string {
  return (r.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function formOf(r: CapturedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(r.body));
}

/** The host @azure/identity is pointed at (it accepts only https authorities). */
const ENTRA_HOST = 'https://login.capture.test';

/**
 * An @azure/identity HTTP client that carries each request, unchanged (method, path,
 * headers, body), to the local capture server over plain HTTP: the SDK refuses an http
 * authority, so the authority is an https name and this transport stands in for TLS.
 */
function captureTransport(target: string): HttpClient {
  return {
    async sendRequest(req: PipelineRequest): Promise<PipelineResponse> {
      const u = new URL(req.url);
      const res = await fetch(`${target}${u.pathname}${u.search}`, {
        method: req.method,
        headers: req.headers.toJSON(),
        ...(typeof req.body === 'string' ? { body: req.body } : {}),
      });
      const bodyAsText = await res.text();
      const map = new Map([...res.headers].map(([k, v]) => [k.toLowerCase(), v] as const));
      const headers: HttpHeaders = {
        get: (n) => map.get(n.toLowerCase()),
        has: (n) => map.has(n.toLowerCase()),
        set: (n, v) => void map.set(n.toLowerCase(), String(v)),
        delete: (n) => void map.delete(n.toLowerCase()),
        toJSON: () => Object.fromEntries(map),
        [Symbol.iterator]: () => map.entries(),
      };
      return { request: req, status: res.status, headers, bodyAsText };
    },
  };
}

const stsXml = (action: string) =>
  `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result><Credentials><AccessKeyId>ASIAFIDELITY0000TEST</AccessKeyId><SecretAccessKey>fidelitySecretAccessKey0123456789abcdef</SecretAccessKey><SessionToken>IQoJb3JpZ2luX2VjEFidelitySessionToken0123456789</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></${action}Result><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></${action}Response>`;

describe('official SDKs and the keyless exchanges send the same requests', () => {
  const servers: CaptureServer[] = [];
  const fakes: AwsFake[] = [];
  const capture = async (answer: (r: CapturedRequest) => CapturedAnswer) => {
    const s = await startCaptureServer(answer);
    servers.push(s);
    return s;
  };
  after(async () => {
    await Promise.all([...servers.map((s) => s.close()), ...fakes.map((f) => f.close())]);
  });

  it('AWS STS AssumeRoleWithWebIdentity: unsigned POST / form (@aws-sdk/client-sts)', async () => {
    const s = await capture(() => ({ text: stsXml('AssumeRoleWithWebIdentity'), contentType: 'text/xml' }));
    const client = new STSClient({ region: 'us-east-1', endpoint: s.url, maxAttempts: 1 });
    const sdk = await sent(s, () =>
      client.send(new AssumeRoleWithWebIdentityCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'neo-team-0194f2a3-7c1d-7a2b-9c3d-4e5f6a7b8c9d', WebIdentityToken: TOKEN, DurationSeconds: 3600 })),
    );
    const ctx = keylessContext({ 'aws-sts': s.url });
    const mark = s.requests.length;
    const r = await shortLived(amazonBedrock(), JSON.stringify({ role_arn: ROLE_ARN }), 'us-east-1', ctx);
    assert.ok(r?.ok, JSON.stringify(r));
    assert.deepEqual(ctx.audiences, ['sts.amazonaws.com']);
    const a = one(sdk, '/');
    const b = one(s.since(mark), '/');
    assert.equal(b.method, a.method);
    assert.equal(mediaType(b), mediaType(a));
    assert.deepEqual(formOf(b), formOf(a));
    assert.equal(a.headers.authorization, undefined, 'the SDK does not sign it');
    assert.equal(b.headers.authorization, undefined, 'neither does the service');
    assert.equal(b.headers['x-amz-security-token'], undefined);
  });

  it('AWS STS GetSessionToken: SigV4-signed POST / form, both signatures verified (@aws-sdk/client-sts)', async () => {
    const f = await startAwsFake();
    fakes.push(f);
    const id = f.addIdentity();
    const mark = f.requests.length;
    const client = new STSClient({ region: 'us-east-1', endpoint: f.url, maxAttempts: 1, credentials: { accessKeyId: id.access_key_id, secretAccessKey: id.secret_access_key } });
    await client.send(new GetSessionTokenCommand({ DurationSeconds: 3600 }));
    const r = await shortLived(amazonBedrock(), JSON.stringify(id), 'us-east-1', checkContext({ 'aws-sts': f.url }));
    assert.ok(r?.ok, JSON.stringify(r));
    assert.equal(r.credential.kind, 'aws_access_keys');
    const [sdkReq, ours] = f.requests.slice(mark);
    const [sdkRec, ourRec] = f.records.slice(mark);
    assert.ok(sdkReq && ours && sdkRec && ourRec);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(ours.body)), Object.fromEntries(new URLSearchParams(sdkReq.body)));
    assert.equal(ours.method, sdkReq.method);
    assert.equal(ours.path, sdkReq.path);
    assert.equal(sdkRec.verified, true);
    assert.equal(ourRec.verified, true);
    assert.deepEqual([ourRec.accessKeyId, ourRec.scopeRegion, ourRec.scopeService], [sdkRec.accessKeyId, sdkRec.scopeRegion, sdkRec.scopeService]);
  });

  it('Google STS token exchange + generateAccessToken (google-auth-library external-account client)', async () => {
    const s = await capture((r) =>
      r.path === '/v1/token'
        ? { json: { access_token: 'ya29.d.federated-fidelity', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3599 } }
        : { json: { accessToken: 'ya29.c.impersonated-fidelity', expireTime: '2030-01-01T00:00:00Z' } },
    );
    const gaPath = `/v1/projects/-/serviceAccounts/${SA_EMAIL}:generateAccessToken`;
    const client = new IdentityPoolClient({
      type: 'external_account',
      audience: `//iam.googleapis.com/${WIP}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${s.url}/v1/token`,
      service_account_impersonation_url: `${s.url}${gaPath}`,
      subject_token_supplier: { getSubjectToken: async () => TOKEN },
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    });
    const sdk = await sent(s, () => client.getAccessToken());
    const ctx = keylessContext({ 'google-sts': s.url, 'google-iam-credentials': s.url });
    const mark = s.requests.length;
    const r = await shortLived(googleVertex(), JSON.stringify({ workload_identity_provider: WIP, service_account_email: SA_EMAIL, project_id: 'neo-test-project' }), 'us-central1', ctx);
    assert.ok(r?.ok, JSON.stringify(r));
    assert.equal(r.credential.apiKey, 'ya29.c.impersonated-fidelity');
    assert.deepEqual(ctx.audiences, [`//iam.googleapis.com/${WIP}`]);
    const ours = s.since(mark);
    const [sdkSts, ourSts] = [one(sdk, '/v1/token'), one(ours, '/v1/token')];
    assert.equal(ourSts.method, sdkSts.method);
    assert.equal(mediaType(ourSts), mediaType(sdkSts));
    assert.deepEqual(formOf(ourSts), formOf(sdkSts));
    const [sdkGa, ourGa] = [one(sdk, gaPath), one(ours, gaPath)];
    assert.equal(ourGa.method, sdkGa.method);
    assert.equal(mediaType(ourGa), mediaType(sdkGa));
    assert.equal(ourGa.headers.authorization, sdkGa.headers.authorization);
    assert.equal(ourGa.headers.authorization, 'Bearer ya29.d.federated-fidelity');
    assert.deepEqual(JSON.parse(ourGa.body), JSON.parse(sdkGa.body));
  });

  it('Microsoft Entra client credentials with client_assertion (@azure/identity ClientAssertionCredential)', async () => {
    const tokenPath = `/${TENANT}/oauth2/v2.0/token`;
    const s = await capture((r) => {
      if (r.path.endsWith('/.well-known/openid-configuration')) {
        const base = ENTRA_HOST;
        return {
          json: {
            token_endpoint: `${base}${tokenPath}`,
            authorization_endpoint: `${base}/${TENANT}/oauth2/v2.0/authorize`,
            issuer: `${base}/${TENANT}/v2.0`,
            jwks_uri: `${base}/${TENANT}/discovery/v2.0/keys`,
            end_session_endpoint: `${base}/${TENANT}/oauth2/v2.0/logout`,
            response_types_supported: ['code', 'id_token'],
          },
        };
      }
      return { json: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: 'eyJ0eXAi.entra-fidelity.sig' } };
    });
    const credential = new ClientAssertionCredential(TENANT, CLIENT_ID, async () => TOKEN, {
      authorityHost: ENTRA_HOST,
      disableInstanceDiscovery: true,
      httpClient: captureTransport(s.url),
    });
    const sdk = await sent(s, () => credential.getToken('https://cognitiveservices.azure.com/.default'));
    const ctx = keylessContext({ 'azure-login': s.url });
    const mark = s.requests.length;
    const adapter = azureFoundry({ allowedHosts: ['127.0.0.1'] });
    const r = await shortLived(adapter, JSON.stringify({ tenant_id: TENANT, client_id: CLIENT_ID }), 'https://neo-test.openai.azure.com', ctx);
    assert.ok(r?.ok, JSON.stringify(r));
    assert.deepEqual(ctx.audiences, ['api://AzureADTokenExchange']);
    const a = one(sdk, tokenPath);
    const b = one(s.since(mark), tokenPath);
    assert.equal(b.method, a.method);
    assert.equal(mediaType(b), mediaType(a));
    const sdkForm = formOf(a);
    const ourForm = formOf(b);
    for (const [k, v] of Object.entries(ourForm)) assert.equal(sdkForm[k], v, `the SDK sends ${k} the same`);
    // What MSAL adds beyond the OAuth parameters: client telemetry only.
    const extra = Object.keys(sdkForm).filter((k) => !(k in ourForm));
    assert.ok(extra.length < 10, `MSAL extras: ${extra.join(', ')}`);
    for (const k of extra) assert.ok(k === 'client_info' || k === 'client-request-id' || k.startsWith('x-client-') || k.startsWith('x-app-') || k === 'x-ms-lib-capability', `unexpected SDK parameter ${k}`);
    assert.deepEqual(Object.keys(ourForm).sort(), ['client_assertion', 'client_assertion_type', 'client_id', 'grant_type', 'scope']);
  });
});
