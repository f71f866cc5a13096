/**
 * "Connect without a key" on the settings page (issue 18 item 5, docs/keyless-cloud.md),
 * in real headless Chromium: the setup help of each cloud for the signed-in owner, the
 * keyless credential fields and the body the page sends, and the message of a server
 * without NEO_OIDC_ISSUER. Without Chromium the suite is skipped locally and fails in CI.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Page, Request } from 'playwright-core';
import { join } from 'node:path';
import { describeInChromium, listenLocal, screenshotDir, signIn, useChromium, type OpenedPage } from '../helpers/browser.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail } from '../helpers/fixtures.ts';

const ISSUER = 'https://byok.example.com';
describeInChromium('keyless connections on the settings page', () => {
  let withIssuer: TestContext;
  let without: TestContext;
  let baseWith: string;
  let baseWithout: string;
  const chromium = useChromium();

  before(async () => {
    withIssuer = await createTestContext({ env: { NEO_OIDC_ISSUER: ISSUER } });
    without = await createTestContext();
    baseWith = await listenLocal(withIssuer);
    baseWithout = await listenLocal(without);
  });
  after(async () => {
    await withIssuer?.close();
    await without?.close();
  });

  async function teamAdminPage(ctx: TestContext, base: string): Promise<{ p: OpenedPage; teamId: string; apiKey: string }> {
    const admin = await createUser(ctx, uniqueEmail('keyless'));
    const team = await createTeam(ctx, [{ user: admin, role: 'admin' }], 'Keyless Co');
    await setByok(ctx, team.owner);
    const apiKey = await createApiKey(ctx, admin);
    const p = await chromium.open(base);
    await signIn(p, apiKey);
    await p.page.locator('#provider-list').waitFor();
    return { p, teamId: team.id, apiKey };
  }

  const card = (page: Page, name: string) => page.getByRole('article', { name, exact: true });

  async function chooseKeyless(page: Page, cardName: string): Promise<void> {
    await card(page, cardName).getByRole('button', { name: `Add key for ${cardName}`, exact: true }).click();
    await card(page, cardName).getByRole('radio', { name: /Connect without a key/ }).check();
  }

  /** The body of the next PATCH the page sends for `provider` (the save itself is the adapters' business). */
  function nextPatch(page: Page, provider: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      const onRequest = (r: Request) => {
        if (r.method() === 'PATCH' && new URL(r.url()).pathname === `/api/v1/byok/providers/${provider}`) {
          page.off('request', onRequest);
          resolve(r.postDataJSON() as Record<string, unknown>);
        }
      };
      page.on('request', onRequest);
    });
  }

  it('Amazon Bedrock: the trust for this team, the commands, and a role ARN sent as the keyless credential', async () => {
    const { p, teamId } = await teamAdminPage(withIssuer, baseWith);
    const sub = `neo:team:${teamId}`;
    await chooseKeyless(p.page, 'Amazon Bedrock');
    const help = card(p.page, 'Amazon Bedrock').getByRole('region', { name: /setting up a connection without a key/ });
    await help.getByText('Trust policy (trust-policy.json)').waitFor();
    const text = await help.innerText();
    assert.ok(text.includes(ISSUER));
    assert.ok(text.includes(sub));
    assert.ok(text.includes('sts.amazonaws.com'));
    assert.ok(text.includes(`"byok.example.com:sub": "${sub}"`), text);
    assert.ok(text.includes("aws iam create-open-id-connect-provider --url 'https://byok.example.com'"));
    // NEO_SCREENSHOTS=1: the card as docs/settings-page.md shows it.
    const dir = screenshotDir();
    if (dir) await card(p.page, 'Amazon Bedrock').screenshot({ path: join(dir, 'keyless-bedrock.png'), animations: 'disabled', caret: 'hide' });
    // The key fields are hidden; the keyless field is there.
    assert.equal(await card(p.page, 'Amazon Bedrock').getByRole('group', { name: 'How Neo signs in to AWS' }).isVisible(), false);
    const patch = nextPatch(p.page, 'amazon-bedrock');
    await card(p.page, 'Amazon Bedrock').getByLabel('Role ARN', { exact: true }).fill('arn:aws:iam::123456789012:role/neo-byok-bedrock-team');
    await card(p.page, 'Amazon Bedrock').getByRole('button', { name: 'Save', exact: true }).click();
    const body = await patch;
    assert.deepEqual(JSON.parse(body.api_key as string), { role_arn: 'arn:aws:iam::123456789012:role/neo-byok-bedrock-team' });
    assert.equal(body.location, 'us-east-1');
    assert.deepEqual(p.record.errors, []);
    assert.deepEqual(await p.cspViolations(), []);
  });

  it('Google Vertex AI: pool and provider commands with the attribute condition; the provider, project and service account are sent', async () => {
    const { p, teamId } = await teamAdminPage(withIssuer, baseWith);
    await chooseKeyless(p.page, 'Google Vertex AI');
    const c = card(p.page, 'Google Vertex AI');
    const help = c.getByRole('region', { name: /setting up a connection without a key/ });
    await help.getByText('Optional: act as a service account').waitFor();
    const text = await help.innerText();
    assert.ok(text.includes(`assertion.sub == 'neo:team:${teamId}'`));
    assert.ok(text.includes('providers create-oidc'));
    assert.ok(text.includes('//iam.googleapis.com/projects/<project-number>/locations/global/workloadIdentityPools/<pool-id>/providers/<provider-id>'));
    // A required field left empty is named, nothing is sent.
    await c.getByRole('button', { name: 'Save', exact: true }).click();
    await c.getByText('Enter the workload identity provider.').waitFor();
    const patch = nextPatch(p.page, 'google-vertex');
    const wip = 'projects/123456789012/locations/global/workloadIdentityPools/neo-byok/providers/neo-byok';
    await c.getByLabel('Workload identity provider', { exact: true }).fill(wip);
    await c.getByLabel('Project id', { exact: true }).fill('my-project');
    await c.getByLabel('Service account email (optional)', { exact: true }).fill('neo-byok-vertex@my-project.iam.gserviceaccount.com');
    await c.getByLabel('Region', { exact: true }).fill('europe-west4');
    await c.getByRole('button', { name: 'Save', exact: true }).click();
    const body = await patch;
    assert.deepEqual(JSON.parse(body.api_key as string), { workload_identity_provider: wip, project_id: 'my-project', service_account_email: 'neo-byok-vertex@my-project.iam.gserviceaccount.com' });
    assert.equal(body.location, 'europe-west4');
  });

  it('Azure AI Foundry: the federated credential for this team; tenant and client ids are sent with the endpoint', async () => {
    const { p, teamId } = await teamAdminPage(withIssuer, baseWith);
    await chooseKeyless(p.page, 'Azure AI Foundry');
    const c = card(p.page, 'Azure AI Foundry');
    const help = c.getByRole('region', { name: /setting up a connection without a key/ });
    await help.getByText('Check the setup').waitFor();
    const text = await help.innerText();
    assert.ok(text.includes(`"subject":"neo:team:${teamId}"`), text);
    assert.ok(text.includes('api://AzureADTokenExchange'));
    assert.ok(text.includes('az role assignment create'));
    const patch = nextPatch(p.page, 'azure-foundry');
    await c.getByLabel('Endpoint URL', { exact: true }).fill('https://my-resource.openai.azure.com');
    await c.getByLabel('Directory (tenant) id', { exact: true }).fill('00000000-0000-0000-0000-000000000001');
    await c.getByLabel('Application (client) id', { exact: true }).fill('00000000-0000-0000-0000-000000000002');
    await c.getByRole('button', { name: 'Save', exact: true }).click();
    const body = await patch;
    assert.deepEqual(JSON.parse(body.api_key as string), { tenant_id: '00000000-0000-0000-0000-000000000001', client_id: '00000000-0000-0000-0000-000000000002' });
    assert.equal(body.location, 'https://my-resource.openai.azure.com');
  });

  it('a server without NEO_OIDC_ISSUER says keyless connections are not available and what to configure', async () => {
    const { p } = await teamAdminPage(without, baseWithout);
    await chooseKeyless(p.page, 'Amazon Bedrock');
    const alert = card(p.page, 'Amazon Bedrock').getByRole('alert').filter({ hasText: /not available on this server/ });
    await alert.waitFor();
    assert.match(await alert.innerText(), /NEO_OIDC_ISSUER/);
  });
});
