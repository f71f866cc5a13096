/**
 * The Webhooks section of the settings page (docs/webhooks.md, docs/settings-page.md) in
 * real headless Chromium against a real server and a local receiver on 127.0.0.1: add
 * an endpoint with its events, the secret shown once with a working copy button and gone
 * from the page once dismissed, a test event in the delivery log, disable/enable,
 * rotation, delete; members and viewers do not see the section. Without Chromium the
 * suite is skipped locally and fails in CI.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { startReceiver, type LocalServer } from '../fakes/webhook-servers.ts';
import { join } from 'node:path';
import { describeInChromium, listenLocal, screenshotDir, signIn, useChromium, type OpenedPage } from '../helpers/browser.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail } from '../helpers/fixtures.ts';

declare const navigator: { clipboard: { readText(): Promise<string> } };
declare const document: { body: { innerHTML: string } };

describeInChromium('webhooks on the settings page', () => {
  let ctx: TestContext;
  let receiver: LocalServer;
  let baseUrl: string;
  const chromium = useChromium();

  before(async () => {
    receiver = await startReceiver();
    ctx = await createTestContext({ env: { NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: receiver.hostPort } });
    baseUrl = await listenLocal(ctx);
  });
  after(async () => {
    await ctx?.close();
    await receiver?.close();
  });

  async function signInWithClipboard(apiKey: string): Promise<OpenedPage> {
    const p = await chromium.open(baseUrl);
    await p.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
    await signIn(p, apiKey);
    return p;
  }

  const section = (page: Page) => page.locator('#webhooks');

  it('adds an endpoint, shows the secret once with a copy button, sends a test, disables, rotates and deletes it', async () => {
    const user = await createUser(ctx, uniqueEmail('whpage'));
    await setByok(ctx, user.owner);
    const opened = await signInWithClipboard(await createApiKey(ctx, user));
    const { page, record } = opened;
    const s = section(page);
    await s.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await s.getByText('No endpoints yet.').waitFor();

    await s.getByRole('button', { name: 'Add endpoint' }).click();
    // Nothing typed: the URL is asked for, nothing is sent.
    await s.locator('#webhook-submit').click();
    await s.getByText('Enter the https URL that should receive the events.').waitFor();
    // A plain-http URL that is not allow-listed: the server's reason, under the field.
    await s.getByLabel('Receiver URL').fill('http://example.com/hook');
    await s.locator('#webhook-submit').click();
    await s.getByText(/url must use https/).waitFor();

    await s.getByLabel('Receiver URL').fill(`${receiver.url}/hook`);
    await s.getByLabel('Description (optional)').fill('On-call');
    await s.getByRole('checkbox', { name: /A key was added/ }).check();
    await s.getByRole('checkbox', { name: /The mode switched back/ }).uncheck();
    await s.locator('#webhook-submit').click();

    const box = s.getByRole('region', { name: 'Signing secret' });
    await box.waitFor();
    const secret = await box.getByLabel('Signing secret').inputValue();
    assert.match(secret, /^whsec_/);
    await box.getByRole('button', { name: 'Copy secret' }).click();
    await box.getByText('Copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await box.getByRole('button', { name: 'Done' }).click();
    await box.waitFor({ state: 'detached' });
    assert.ok(!(await page.evaluate(() => document.body.innerHTML)).includes(secret), 'the secret is gone from the page');

    const card = s.locator('li.webhook');
    await card.getByText(`${receiver.url}/hook`).waitFor();
    await card.getByText('On-call').waitFor();
    const stored = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/webhooks', headers: user.headers });
    const [w] = stored.json<{ webhooks: { id: string; events: string[] }[] }>().webhooks;
    assert.deepEqual(w!.events, ['provider_key.created', 'provider_key.status_changed', 'provider_key.expiring']);

    // A test event: queued, sent by the worker, shown in the log.
    await card.getByRole('button', { name: 'Send test' }).click();
    await card.getByText('Test event sent. Its result appears in the delivery log.').waitFor();
    await card.locator('.delivery[data-event="ping"]').waitFor();
    await ctx.app.services.webhookWorker.round();
    await card.getByRole('button', { name: 'Refresh' }).click();
    await card.locator('.delivery[data-status="delivered"]').waitFor();
    await card.getByText(/1 attempt · HTTP 204/).waitFor();
    // NEO_SCREENSHOTS=1: the section as docs/settings-page.md shows it.
    const dir = screenshotDir();
    if (dir) await s.screenshot({ path: join(dir, 'webhooks.png'), animations: 'disabled', caret: 'hide' });
    const ping = receiver.requests.at(-1)!;
    assert.equal((new Webhook(secret).verify(ping.body, ping.headers) as { type: string }).type, 'ping');

    await card.getByRole('button', { name: 'Disable' }).click();
    await card.getByText('Disabled', { exact: true }).waitFor();
    assert.equal(await card.getByRole('button', { name: 'Send test' }).isDisabled(), true);
    await card.getByRole('button', { name: 'Enable' }).click();
    await card.getByText('Enabled', { exact: true }).waitFor();

    await card.getByRole('button', { name: 'Rotate secret' }).click();
    await box.getByText('New signing secret').waitFor();
    const rotated = await box.getByLabel('Signing secret').inputValue();
    assert.notEqual(rotated, secret);
    await box.getByRole('button', { name: 'Done' }).click();
    await card.getByText(/Signed with the old and the new secret until/).waitFor();

    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('button', { name: 'Confirm delete' }).click();
    await s.getByText('No endpoints yet.').waitFor();
    assert.deepEqual(record.errors, []);
    assert.deepEqual(await opened.cspViolations(), []);
  });

  it('team members and viewers do not see the section', async () => {
    const admin = await createUser(ctx, uniqueEmail('whadmin'));
    const member = await createUser(ctx, uniqueEmail('whmember'));
    const team = await createTeam(ctx, [
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);
    await setByok(ctx, team.owner);
    const { page } = await signInWithClipboard(await createApiKey(ctx, member));
    await page.getByText(/Only team admins can change the mode/).waitFor();
    assert.equal(await section(page).isVisible(), false);
  });
});
