/**
 * The setup help is right (issue 18 "Done when"): a team admin reads
 * `GET /api/v1/byok/federation`, "creates" in each cloud exactly what it says (the fakes
 * of AWS STS, Google STS + IAM Credentials and Microsoft Entra are configured from the
 * help's trust policy, issuer URI, attribute condition, principal and federated
 * credential, nothing else), enters the credential fields the help names, and the save
 * is accepted after a real exchange (the fakes fetch the issuer's discovery document and
 * JWKS over HTTP). Another team following its own help cannot use the first team's trust.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FederationHelp } from '../src/modules/oidc/federation.ts';
import { startEntraFake, type EntraFake } from './fakes/entra.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, setByok, type TestUser } from './helpers/fixtures.ts';
import { startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const TENANT = '3f2a1b0c-1d2e-4f50-8a9b-0c1d2e3f4a5b';
const PROJECT_NUMBER = '123456789012';

/** The value a shell variable is set to in the help's commands (`NAME=value`). */
function shellVar(commands: string[], name: string): string {
  const line = commands.find((c) => c.startsWith(`${name}=`));
  assert.ok(line, `the commands set ${name}`);
  return line.slice(name.length + 1);
}

/** An option's single-quoted value in a command (`--name='value'`, with '\'' for a quote). */
function quotedOption(command: string, name: string): string {
  const m = new RegExp(`--${name}='((?:[^']|'\\\\'')*)'`).exec(command);
  assert.ok(m, `--${name} in ${command}`);
  return m[1]!.replace(/'\\''/g, "'");
}

for (const dialect of testDialects()) {
  describe(`following the setup help connects each cloud [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    let entra: EntraFake;

    before(async () => {
      const port = await freePort();
      fakes = await startProviderFakes();
      entra = await startEntraFake();
      entra.onIssue = (token, expiresAt) => fakes.azure.bearerTokens.set(token, expiresAt);
      ctx = await createTestContext({
        dialect,
        env: {
          ...fakes.env,
          NEO_OIDC_ISSUER: `http://127.0.0.1:${port}`,
          NEO_PROVIDER_URL_GOOGLE_STS: fakes.google.url,
          NEO_PROVIDER_URL_GOOGLE_IAM_CREDENTIALS: fakes.google.url,
          NEO_PROVIDER_URL_AZURE_LOGIN: entra.url,
        },
      });
      await ctx.app.listen({ port, host: '127.0.0.1' });
    });
    after(async () => {
      await ctx?.close();
      await entra?.close();
      await fakes?.close();
    });

    async function teamAdmin(): Promise<{ admin: TestUser; help: FederationHelp }> {
      const admin = await createUser(ctx);
      const team = await createTeam(ctx, [{ user: admin, role: 'admin' }]);
      await setByok(ctx, team.owner);
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/federation', headers: admin.headers });
      assert.equal(res.statusCode, 200, res.body);
      return { admin, help: res.json<FederationHelp>() };
    }

    /** The body the settings page sends: the help's credential fields (all but location) as the JSON credential. */
    function body(fields: FederationHelp['aws']['credential_fields'], values: Record<string, string>, location: string) {
      const credential: Record<string, string> = {};
      for (const f of fields) {
        if (f.name === 'location') continue;
        if (f.required) assert.ok(values[f.name], `a value for ${f.name}`);
        if (values[f.name]) credential[f.name] = values[f.name]!;
      }
      return { api_key: JSON.stringify(credential), location };
    }

    async function save(u: TestUser, provider: string, payload: { api_key: string; location: string }) {
      const res = await ctx.app.inject({ method: 'PATCH', url: `/api/v1/byok/providers/${provider}`, headers: u.headers, payload });
      return { status: res.statusCode, body: res.json<{ code?: string; validation?: { valid: boolean }; provider_key?: { is_validated: boolean } }>(), raw: res.body };
    }

    it('Amazon Bedrock: the OIDC provider and trust policy of the help let the team assume the role, and no other team', async () => {
      const { admin, help } = await teamAdmin();
      const roleArn = 'arn:aws:iam::123456789012:role/neo-byok-bedrock-team';
      // What the customer creates: the IAM OIDC provider (URL, client id) and the role's trust policy, as given.
      const statement = (help.aws.trust_policy as { Statement: { Principal: { Federated: string }; Condition: { StringEquals: Record<string, string> } }[] }).Statement[0]!;
      const host = help.aws.oidc_provider_url.replace(/^https?:\/\//, '');
      assert.equal(statement.Principal.Federated, `arn:aws:iam::<ACCOUNT_ID>:oidc-provider/${host}`);
      assert.ok(help.aws.commands.some((c) => c.includes(`--client-id-list '${help.aws.audience}'`)));
      fakes.aws.roles.set(roleArn, {
        issuer: help.aws.oidc_provider_url,
        subject: statement.Condition.StringEquals[help.aws.condition_keys.sub]!,
        audience: statement.Condition.StringEquals[help.aws.condition_keys.aud]!,
      });
      const ok = await save(admin, 'amazon-bedrock', body(help.aws.credential_fields, { role_arn: roleArn }, 'us-east-1'));
      assert.equal(ok.status, 200, ok.raw);
      assert.equal(ok.body.validation?.valid, true);
      assert.equal(ok.body.provider_key?.is_validated, true);

      const other = await teamAdmin();
      assert.notEqual(other.help.subject, help.subject);
      const refused = await save(other.admin, 'amazon-bedrock', body(other.help.aws.credential_fields, { role_arn: roleArn }, 'us-east-1'));
      assert.equal(refused.status, 400, refused.raw);
      assert.equal(refused.body.code, 'provider_key_invalid');
    });

    it('Google Vertex AI: the pool provider (issuer URI, attribute condition) and the service-account binding of the help let the team in, and no other team', async () => {
      const { admin, help } = await teamAdmin();
      const g = help.google;
      const createOidc = g.commands.find((c) => c.includes('providers create-oidc'))!;
      const pool = shellVar(g.commands, 'POOL_ID');
      const provider = shellVar(g.commands, 'PROVIDER_ID');
      const wip = `projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${pool}/providers/${provider}`;
      const condition = quotedOption(createOidc, 'attribute-condition');
      assert.equal(condition, g.attribute_condition);
      assert.equal(quotedOption(createOidc, 'attribute-mapping'), 'google.subject=assertion.sub');
      const admitted = /^assertion\.sub == '([^']+)'$/.exec(condition)![1]!;
      fakes.google.workloadProviders.set(wip, { issuer: quotedOption(createOidc, 'issuer-uri'), subjects: new Set([admitted]) });
      // The optional service account: the binding's member exactly as the help writes it.
      const saEmail = 'neo-byok-vertex@neo-test-project.iam.gserviceaccount.com';
      const binding = g.service_account_commands.find((c) => c.includes('roles/iam.workloadIdentityUser'))!;
      const member = /--member="([^"]+)"/.exec(binding)![1]!.replace('$PROJECT_NUMBER', PROJECT_NUMBER).replace('$POOL_ID', pool);
      fakes.google.impersonators.set(saEmail, new Set([member]));

      const values = { workload_identity_provider: wip, project_id: 'neo-test-project', service_account_email: saEmail };
      const ok = await save(admin, 'google-vertex', body(g.credential_fields, values, 'us-central1'));
      assert.equal(ok.status, 200, ok.raw);
      assert.equal(ok.body.validation?.valid, true);
      assert.deepEqual(fakes.google.exchanges.slice(-2).map((e) => e.kind), ['sts', 'generateAccessToken']);

      const other = await teamAdmin();
      const refused = await save(other.admin, 'google-vertex', body(other.help.google.credential_fields, values, 'us-central1'));
      assert.equal(refused.status, 400, refused.raw);
      assert.equal(refused.body.code, 'provider_key_invalid');
    });

    it('Azure AI Foundry: the federated credential of the help lets the team sign in as the app, and no other team', async () => {
      const { admin, help } = await teamAdmin();
      const fc = help.azure.federated_credential;
      // The az command carries the same credential the help shows as JSON.
      assert.ok(help.azure.commands.some((c) => c.includes(`--parameters '${JSON.stringify(fc)}'`)));
      const clientId = '7d9e2c4a-1b3f-4e5d-8c6a-9f0e1d2c3b4a';
      entra.tenants.add(TENANT);
      entra.apps.set(clientId, { tenantId: TENANT, federatedCredentials: [{ issuer: fc.issuer, subject: fc.subject, audiences: fc.audiences }] });
      const ok = await save(admin, 'azure-foundry', body(help.azure.credential_fields, { tenant_id: TENANT, client_id: clientId }, fakes.azure.url));
      assert.equal(ok.status, 200, ok.raw);
      assert.equal(ok.body.validation?.valid, true);

      const other = await teamAdmin();
      const refused = await save(other.admin, 'azure-foundry', body(other.help.azure.credential_fields, { tenant_id: TENANT, client_id: clientId }, fakes.azure.url));
      assert.equal(refused.status, 400, refused.raw);
      assert.equal(refused.body.code, 'provider_key_invalid');
    });
  });
}
