/**
 * `GET /api/v1/byok/federation` (issue 18 item 5): setup help for each cloud naming the
 * caller's owner exactly (issuer, `sub`, audiences, trust conditions), access rules
 * (solo user, team admin; member/viewer 403; flag off 403), 400 without NEO_OIDC_ISSUER,
 * and no secret anywhere in it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FEDERATION_AUDIENCES, type FederationHelp } from '../src/modules/oidc/federation.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, testDialects, type TestContext } from './helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok } from './helpers/fixtures.ts';
import { assertErrorResponse, securitySuite } from './helpers/security.ts';

const ISSUER = 'https://byok.example.com';
const URL_ = '/api/v1/byok/federation';

for (const dialect of testDialects()) {
  describe(`GET /api/v1/byok/federation (${dialect})`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect, env: { NEO_OIDC_ISSUER: ISSUER } });
    });
    after(async () => ctx?.close());

    securitySuite(() => ctx, { method: 'GET', url: URL_, roles: { allowed: ['admin'] }, feature: 'byok' });

    it('gives a team admin the team\'s issuer, exact sub and audiences, and setup for each cloud', async () => {
      const admin = await createUser(ctx);
      const team = await createTeam(ctx, [{ user: admin, role: 'admin' }]);
      await setByok(ctx, team.owner);
      const res = await ctx.app.inject({ method: 'GET', url: URL_, headers: admin.headers });
      assert.equal(res.statusCode, 200, res.body);
      const help = res.json<FederationHelp>();
      const sub = `neo:team:${team.id}`;
      assert.equal(help.resource_type, 'team');
      assert.equal(help.resource_id, team.id);
      assert.equal(help.issuer, ISSUER);
      assert.equal(help.subject, sub);
      assert.equal(help.discovery_url, `${ISSUER}/.well-known/openid-configuration`);
      assert.equal(help.jwks_uri, `${ISSUER}/.well-known/jwks.json`);
      assert.ok(help.token_lifetime_seconds > 0 && help.token_lifetime_seconds <= 600);

      // AWS: the OIDC provider for the issuer, a trust policy conditioned on this sub and STS's audience.
      assert.equal(help.aws.audience, 'sts.amazonaws.com');
      assert.equal(help.aws.oidc_provider_url, ISSUER);
      assert.deepEqual(help.aws.condition_keys, { sub: 'byok.example.com:sub', aud: 'byok.example.com:aud' });
      assert.deepEqual(help.aws.trust_policy, {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: 'arn:aws:iam::<ACCOUNT_ID>:oidc-provider/byok.example.com' },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: { StringEquals: { 'byok.example.com:sub': sub, 'byok.example.com:aud': 'sts.amazonaws.com' } },
          },
        ],
      });
      const perms = (help.aws.permissions_policy as { Statement: { Action: string[] }[] }).Statement[0]!.Action;
      assert.ok(perms.includes('bedrock:ListFoundationModels') && perms.includes('bedrock:InvokeModel'));
      const aws = help.aws.commands.join('\n');
      assert.match(aws, /aws iam create-open-id-connect-provider --url 'https:\/\/byok\.example\.com' --client-id-list 'sts\.amazonaws\.com'/);
      assert.match(aws, /aws iam create-role .*--assume-role-policy-document file:\/\/trust-policy\.json/);
      assert.match(aws, /aws iam put-role-policy /);
      assert.deepEqual(help.aws.credential_fields.map((f) => f.name), ['role_arn', 'location']);

      // Google: pool + OIDC provider for the issuer, sub mapped and conditioned, access for this principal.
      assert.equal(help.google.audience_format, '//iam.googleapis.com/projects/<project-number>/locations/global/workloadIdentityPools/<pool-id>/providers/<provider-id>');
      assert.equal(FEDERATION_AUDIENCES.google('projects/1/locations/global/workloadIdentityPools/p/providers/q'), '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q');
      assert.equal(help.google.attribute_mapping, 'google.subject=assertion.sub');
      assert.equal(help.google.attribute_condition, `assertion.sub == '${sub}'`);
      const gcloud = help.google.commands.join('\n');
      assert.match(gcloud, /gcloud iam workload-identity-pools create "\$POOL_ID" .*--location=global/);
      assert.ok(gcloud.includes(`providers create-oidc "$PROVIDER_ID"`));
      assert.ok(gcloud.includes(`--issuer-uri='${ISSUER}'`));
      assert.ok(gcloud.includes(`--attribute-mapping='google.subject=assertion.sub'`));
      assert.ok(gcloud.includes(`--attribute-condition='assertion.sub == '\\''${sub}'\\'''`), gcloud);
      assert.ok(gcloud.includes(`--role=roles/aiplatform.user --member="principal://iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/subject/${sub}"`));
      assert.ok(help.google.service_account_commands.join('\n').includes(`--role=roles/iam.workloadIdentityUser --member="principal://iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/subject/${sub}"`));
      assert.deepEqual(help.google.credential_fields.map((f) => [f.name, f.required]), [
        ['workload_identity_provider', true],
        ['project_id', true],
        ['service_account_email', false],
        ['location', true],
      ]);

      // Azure: a federated credential with the issuer, this sub and Entra's exchange audience; a role assignment.
      assert.equal(help.azure.audience, 'api://AzureADTokenExchange');
      assert.deepEqual(
        { issuer: help.azure.federated_credential.issuer, subject: help.azure.federated_credential.subject, audiences: help.azure.federated_credential.audiences },
        { issuer: ISSUER, subject: sub, audiences: ['api://AzureADTokenExchange'] },
      );
      assert.match(help.azure.federated_credential.name, /^[A-Za-z0-9_-]{1,120}$/);
      const az = help.azure.commands.join('\n');
      assert.ok(az.includes(`az ad app federated-credential create --id "$APP_ID" --parameters '${JSON.stringify(help.azure.federated_credential)}'`));
      assert.match(az, /az role assignment create --assignee "\$APP_ID" --role 'Cognitive Services User' --scope "\$RESOURCE_ID"/);
      assert.deepEqual(help.azure.credential_fields.map((f) => f.name), ['tenant_id', 'client_id', 'location']);
    });

    it('gives a solo user their own subject (also with an API key)', async () => {
      const user = await createUser(ctx);
      await setByok(ctx, user.owner);
      const key = await createApiKey(ctx, user);
      const res = await ctx.app.inject({ method: 'GET', url: URL_, headers: { 'x-api-key': key } });
      assert.equal(res.statusCode, 200, res.body);
      const help = res.json<FederationHelp>();
      assert.equal(help.resource_type, 'user');
      assert.equal(help.subject, `neo:user:${user.id}`);
      assert.equal(help.azure.federated_credential.subject, `neo:user:${user.id}`);
      assert.ok(!res.body.includes(key));
    });

    it('team members and viewers get 403 and see nothing of the team', async () => {
      const admin = await createUser(ctx);
      const member = await createUser(ctx);
      const viewer = await createUser(ctx);
      const team = await createTeam(ctx, [
        { user: admin, role: 'admin' },
        { user: member, role: 'member' },
        { user: viewer, role: 'viewer' },
      ]);
      await setByok(ctx, team.owner);
      for (const u of [member, viewer]) {
        const res = await ctx.app.inject({ method: 'GET', url: URL_, headers: u.headers });
        const body = assertErrorResponse(res, 403, 'forbidden');
        assert.ok(!JSON.stringify(body).includes(team.id));
      }
    });

    it('holds no secret: no token, key, master key or internal token anywhere in the answer or the logs', async () => {
      const admin = await createUser(ctx);
      const team = await createTeam(ctx, [{ user: admin, role: 'admin' }]);
      await setByok(ctx, team.owner);
      // A signing key exists (a token was minted) before the help is asked for.
      const minted = await ctx.app.services.oidc.mintToken(team.owner, 'sts.amazonaws.com');
      const res = await ctx.app.inject({ method: 'GET', url: URL_, headers: admin.headers });
      assert.equal(res.statusCode, 200);
      const rows = await ctx.database.db.selectFrom('oidc_signing_keys').select('private_key').execute();
      const secrets = [
        minted,
        TEST_JWT_SECRET,
        TEST_INTERNAL_TOKEN,
        TEST_MASTER_KEY,
        admin.headers.authorization.slice('Bearer '.length),
        ...rows.map((r) => r.private_key),
      ];
      const logs = ctx.logs.join('');
      for (const s of secrets) {
        assert.ok(!res.body.includes(s), 'a secret is in the answer');
        assert.ok(!logs.includes(s), 'a secret is in the logs');
      }
      // Nothing shaped like a JWT, a PEM key or a private JWK member.
      assert.doesNotMatch(res.body, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
      assert.doesNotMatch(res.body, /PRIVATE KEY/);
      assert.doesNotMatch(res.body, /"(d|p|q|dp|dq|qi|client_secret|secret_access_key|private_key)"\s*:/);
    });
  });
}

describe('GET /api/v1/byok/federation without NEO_OIDC_ISSUER', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = await createTestContext({ captureLogs: false });
  });
  after(async () => ctx?.close());

  it('answers 400 oidc_issuer_not_configured saying what to configure (after the access checks)', async () => {
    const user = await createUser(ctx);
    await setByok(ctx, user.owner);
    const res = await ctx.app.inject({ method: 'GET', url: URL_, headers: user.headers });
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json<{ code: string; message: string; error: string }>();
    assert.equal(body.code, 'oidc_issuer_not_configured');
    assert.match(body.message, /NEO_OIDC_ISSUER/);
    assert.match(body.message, /https/);
    // A member still gets 403 first.
    const admin = await createUser(ctx);
    const member = await createUser(ctx);
    const team = await createTeam(ctx, [
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);
    await setByok(ctx, team.owner);
    assertErrorResponse(await ctx.app.inject({ method: 'GET', url: URL_, headers: member.headers }), 403, 'forbidden');
  });
});
