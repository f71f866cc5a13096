/**
 * A fake of the Microsoft Entra v2.0 token endpoint for workload identity federation:
 * `POST /{tenant}/oauth2/v2.0/token` with the client-credentials grant and a
 * `client_assertion` of an external OIDC issuer. It verifies the assertion as Entra does
 * (the app's federated identity credentials name issuer, subject and audience; the
 * issuer's discovery document and JWKS are fetched over HTTP from the running server) and
 * answers Entra's JSON: `{token_type, expires_in, ext_expires_in, access_token}` or
 * `{error, error_description: "AADSTSnnnn: …", error_codes, timestamp, trace_id,
 * correlation_id}` (Microsoft identity platform, "AADSTS error codes").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { unverifiedIssuer, verifyIssuerToken } from './oidc-verifier.ts';

export interface FederatedIdentityCredential {
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface EntraApp {
  tenantId: string;
  federatedCredentials: FederatedIdentityCredential[];
}

export interface EntraFake {
  url: string;
  clock: () => number;
  /** Tenants that exist (ids, lower case). */
  tenants: Set<string>;
  /** App registrations by client id. */
  apps: Map<string, EntraApp>;
  /** Called with every access token issued (the Azure fake accepts them as bearer tokens). */
  onIssue: (token: string, expiresAtMs: number) => void;
  tokenLifetimeS: number;
  /** Answer every request with this status (429, 503…). */
  fault: number | null;
  requests: { path: string; headers: Record<string, string>; body: string }[];
  exchanges: { clientId: string; sub: string }[];
  close(): Promise<void>;
}

const SCOPE = 'https://cognitiveservices.azure.com/.default';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function startEntraFake(): Promise<EntraFake> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      fake.requests.push({ path: req.url ?? '/', headers, body });
      void handle(req.method ?? 'GET', req.url ?? '/', headers, body).then(({ status, json }) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache' });
        res.end(JSON.stringify(json));
      });
    });
  });

  function aadsts(status: number, error: string, code: number, text: string) {
    return {
      status,
      json: {
        error,
        error_description: `AADSTS${code}: ${text} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date(fake.clock()).toISOString()}`,
        error_codes: [code],
        timestamp: new Date(fake.clock()).toISOString(),
        trace_id: randomUUID(),
        correlation_id: randomUUID(),
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      },
    };
  }

  async function handle(method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: unknown }> {
    if (fake.fault) return { status: fake.fault, json: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.', error_codes: [90033] } };
    const m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (method !== 'POST' || !m) return { status: 404, json: { error: 'not_found' } };
    if (!/^application\/x-www-form-urlencoded/.test(headers['content-type'] ?? '')) return aadsts(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    const tenant = decodeURIComponent(m[1]!).toLowerCase();
    if (!fake.tenants.has(tenant)) return aadsts(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return aadsts(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const clientId = form.get('client_id') ?? '';
    const app = fake.apps.get(clientId);
    if (!app || app.tenantId !== tenant) return aadsts(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    if (form.get('scope') !== SCOPE) return aadsts(400, 'invalid_scope', 70011, 'The provided value for the input parameter scope is not valid.');
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) return aadsts(400, 'invalid_request', 90014, "The required field 'client_assertion_type' is missing.");
    const assertion = form.get('client_assertion') ?? '';
    const iss = unverifiedIssuer(assertion);
    const candidates = app.federatedCredentials.filter((f) => f.issuer === iss);
    if (candidates.length === 0) return aadsts(400, 'invalid_client', 700211, 'No matching federated identity record found for presented assertion issuer.');
    const byAudience = candidates.filter((f) => f.audiences.length > 0);
    let last: Awaited<ReturnType<typeof verifyIssuerToken>> | undefined;
    for (const f of byAudience) {
      last = await verifyIssuerToken(assertion, { trustedIssuer: f.issuer, audience: f.audiences[0]!, nowMs: fake.clock(), maxLifetimeS: 86_400 });
      if (!last.ok) continue;
      if (last.claims.sub !== f.subject) continue;
      const token = `eyJ0eXAiOiJKV1Qi.fake-entra.${randomBytes(24).toString('base64url')}`;
      const expiresAt = fake.clock() + fake.tokenLifetimeS * 1000;
      fake.onIssue(token, expiresAt);
      fake.exchanges.push({ clientId, sub: last.claims.sub });
      return { status: 200, json: { token_type: 'Bearer', expires_in: fake.tokenLifetimeS, ext_expires_in: fake.tokenLifetimeS, access_token: token } };
    }
    if (last && !last.ok) {
      switch (last.reason) {
        case 'audience':
          return aadsts(400, 'invalid_client', 700212, 'No matching federated identity record found for presented assertion audience.');
        case 'expired':
        case 'iat':
          return aadsts(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
        case 'discovery':
          return aadsts(400, 'invalid_client', 50166, 'Request to External OIDC endpoint failed.');
        default:
          return aadsts(401, 'invalid_client', 50013, 'Assertion failed signature validation.');
      }
    }
    // Verified, but no federated credential names this subject: another owner's token.
    return aadsts(400, 'invalid_client', 700213, 'No matching federated identity record found for presented assertion subject.');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: EntraFake = {
    url: `http://127.0.0.1:${port}`,
    clock: Date.now,
    tenants: new Set(),
    apps: new Map(),
    onIssue: () => undefined,
    tokenLifetimeS: 3599,
    fault: null,
    requests: [],
    exchanges: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
