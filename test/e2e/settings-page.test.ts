/**
 * The BYOK settings page in real headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core) against a real server on 127.0.0.1 with fake providers: sign-in,
 * keys, check, mode switch, delete with auto-switch, member view, bad sign-in, secrets
 * never rendered back, CSP, narrow screens. NEO_SCREENSHOTS=1 also writes the PNGs of
 * docs/images/. Without Chromium the suite is skipped locally and fails in CI.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Locator, Page, Request } from 'playwright-core';
import { makeServiceAccount, startAwsFake, startAzureFake, startGoogleFake, type AwsFake, type AzureFake, type GoogleFake } from '../fakes/cloud-providers.ts';
import { MODELS, startFakeKeyProviders, type FakeKeyProviders } from '../fakes/key-providers.ts';
import { describeInChromium, listenLocal, screenshot, signIn, useChromium, type BrowserDocument, type BrowserStorage, type OpenedPage } from '../helpers/browser.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { createApiKey, createTeam, createUser, setByok, uniqueEmail, type TestUser } from '../helpers/fixtures.ts';

// Globals of the page, for the callbacks that run inside Chromium (page.evaluate).
declare const document: BrowserDocument;
declare const window: Record<string, unknown>;
declare const sessionStorage: BrowserStorage & Record<string, string>;
declare const localStorage: BrowserStorage & Record<string, string>;

const PROVIDER_NAMES = [
  'OpenRouter',
  'Anthropic',
  'OpenAI',
  'Google AI (Gemini API)',
  'xAI',
  'Vercel AI Gateway',
  'Google Vertex AI',
  'Amazon Bedrock',
  'Azure AI Foundry',
];

describeInChromium('settings page in Chromium', () => {
  let ctx: TestContext;
  let keyFakes: FakeKeyProviders;
  let google: GoogleFake;
  let aws: AwsFake;
  let azure: AzureFake;
  let baseUrl: string;
  const chromium = useChromium();

  before(async () => {
    [keyFakes, google, aws, azure] = await Promise.all([startFakeKeyProviders(), startGoogleFake(), startAwsFake(), startAzureFake()]);
    ctx = await createTestContext({
      env: {
        ...keyFakes.env,
        NEO_PROVIDER_URL_GOOGLE_OAUTH: google.url,
        NEO_PROVIDER_URL_GOOGLE_VERTEX: google.url,
        NEO_PROVIDER_URL_AWS_STS: aws.url,
        NEO_PROVIDER_URL_AMAZON_BEDROCK: aws.url,
        NEO_AZURE_ALLOWED_HOSTS: '127.0.0.1',
        NEO_PROVIDER_TIMEOUT_MS: '3000',
      },
    });
    baseUrl = await listenLocal(ctx);
  });

  after(async () => {
    await ctx?.close();
    await Promise.all([keyFakes?.close(), google?.close(), aws?.close(), azure?.close()]);
  });

  // ------------------------------------------------------------------ helpers

  const open = (opts: { width?: number; height?: number } = {}) => chromium.open(baseUrl, opts);

  async function soloUser(email = uniqueEmail('solo'), byok = true): Promise<{ user: TestUser; apiKey: string }> {
    const user = await createUser(ctx, email);
    if (byok) await setByok(ctx, user.owner);
    return { user, apiKey: await createApiKey(ctx, user) };
  }

  const jwtOf = (u: TestUser) => u.headers.authorization.slice('Bearer '.length);

  async function apiAs(u: TestUser, method: 'GET' | 'PATCH' | 'POST' | 'DELETE', url: string, payload?: unknown) {
    const res = await ctx.app.inject({ method, url, headers: u.headers, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: res.statusCode, body: res.body ? res.json<Record<string, unknown>>() : {} };
  }

  async function keysOf(u: TestUser): Promise<Record<string, unknown>[]> {
    const res = await apiAs(u, 'GET', '/api/v1/byok/providers');
    assert.equal(res.status, 200);
    return res.body.provider_keys as Record<string, unknown>[];
  }

  async function modeOf(u: TestUser): Promise<string> {
    return (await apiAs(u, 'GET', '/api/v1/byok/mode')).body.mode as string;
  }

  const card = (page: Page, name: string) => page.getByRole('article', { name, exact: true });
  const outcome = (page: Page, name: string) => card(page, name).locator('.outcome');
  const modeSwitch = (page: Page) => page.getByRole('switch');

  /** Waits until the locator's text matches, then returns it. */
  async function textOf(locator: Locator, pattern: RegExp): Promise<string> {
    await locator.filter({ hasText: pattern }).first().waitFor();
    return (await locator.first().innerText()).replace(/\s+/g, ' ').trim();
  }

  async function waitForAttr(locator: Locator, name: string, value: string | null): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const current = await locator.getAttribute(name);
      if (current === value) return;
      if (Date.now() > deadline) assert.equal(current, value, `attribute ${name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Every API request the page made, as "METHOD /path". */
  const apiCalls = (p: OpenedPage, requests: Request[]) =>
    requests.filter((r) => new URL(r.url()).pathname.startsWith('/api/')).map((r) => `${r.method()} ${new URL(r.url()).pathname}`);

  function trackRequests(p: OpenedPage): Request[] {
    const out: Request[] = [];
    p.page.on('request', (r) => out.push(r));
    return out;
  }

  async function fill(page: Page, cardName: string, label: string, value: string): Promise<void> {
    await card(page, cardName).getByLabel(label, { exact: true }).fill(value);
  }

  async function clickIn(page: Page, cardName: string, button: string): Promise<void> {
    await card(page, cardName).getByRole('button', { name: button, exact: true }).click();
  }

  // ------------------------------------------------------------------ sign-in

  it('signs in with a Neo API key: overview, nine provider cards; sign-out forgets the key', async () => {
    const { user, apiKey } = await soloUser('sam.solo@example.com');
    const p = await open();
    const requests = trackRequests(p);
    await p.page.goto('/');
    await screenshot(p.page, 'signed-out');
    // Keyboard only: type the key and press Enter.
    await p.page.getByLabel('Neo API key or access token').fill(apiKey);
    await p.page.getByLabel('Neo API key or access token').press('Enter');
    await p.page.getByRole('heading', { level: 1, name: 'BYOK settings' }).waitFor();

    const overview = p.page.locator('#overview');
    await textOf(overview, /0 keys configured/);
    const text = await overview.innerText();
    assert.match(text, /sam\.solo@example\.com/);
    assert.match(text, /No team: personal account/);
    assert.match(text, /Now: Neo platform keys/);
    assert.equal(await modeSwitch(p.page).getAttribute('aria-checked'), 'false');
    assert.equal(await modeSwitch(p.page).getAttribute('aria-disabled'), 'true');
    assert.match(await p.page.locator('#mode-reason').innerText(), /Add at least one provider key/);

    const list = p.page.locator('#provider-list');
    await list.locator('.badge').first().filter({ hasText: 'Not configured' }).waitFor();
    assert.deepEqual(await list.locator('h3').allInnerTexts(), PROVIDER_NAMES);
    assert.deepEqual(await list.locator('.badge').allInnerTexts(), PROVIDER_NAMES.map(() => 'Not configured'));
    await textOf(p.page.locator('#history-body'), /No changes yet/);
    await screenshot(p.page, 'overview-neo');

    // Kept in sessionStorage only; never in the URL, localStorage or the sign-in field.
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('neo.byok.credential')), apiKey);
    assert.equal(await p.page.evaluate(() => localStorage.length), 0);
    assert.ok(!p.page.url().includes(apiKey));
    assert.equal(await p.page.locator('#signin-credential').inputValue(), '');
    const userCall = requests.find((r) => r.url().endsWith('/api/v1/user'));
    assert.ok(userCall, 'the page asked for the profile');
    assert.equal((await userCall.allHeaders())['x-api-key'], apiKey);
    assert.equal((await userCall.allHeaders()).authorization, undefined);
    assert.ok(requests.every((r) => r.url().startsWith(baseUrl)), 'only the server is contacted');

    await p.page.getByRole('button', { name: 'Sign out' }).click();
    await p.page.getByRole('heading', { name: 'Sign in to manage your provider keys' }).waitFor();
    assert.equal(await p.page.evaluate(() => sessionStorage.getItem('neo.byok.credential')), null);
    assert.ok(!(await p.page.content()).includes(user.email), 'nothing of the session stays in the DOM');
    await p.page.reload();
    await p.page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await p.page.locator('#view-app').isVisible(), false);
  });

  it('signs in with a JWT as a team admin, and a reload keeps the session of the tab', async () => {
    const admin = await createUser(ctx, uniqueEmail('admin'));
    const team = await createTeam(ctx, [{ user: admin, role: 'admin' }], 'Acme Security');
    await setByok(ctx, team.owner);
    const p = await open();
    const requests = trackRequests(p);
    await signIn(p, jwtOf(admin));
    const overview = await textOf(p.page.locator('#overview'), /0 keys configured/);
    assert.match(overview, /Acme Security \(your role: admin\)/);
    assert.match(overview, /everyone in Acme Security/);
    const userCall = requests.find((r) => r.url().endsWith('/api/v1/user'));
    assert.equal((await userCall!.allHeaders()).authorization, `Bearer ${jwtOf(admin)}`);
    assert.equal(await p.page.locator('#providers').isVisible(), true);

    await p.page.reload();
    await p.page.getByRole('heading', { level: 1, name: 'BYOK settings' }).waitFor();
    await textOf(p.page.locator('#overview'), /Acme Security/);
  });

  it('refuses a bad sign-in with a clear message and keeps nothing', async () => {
    const { user } = await soloUser();
    const p = await open();
    const requests = trackRequests(p);
    await p.page.goto('/');
    const input = p.page.getByLabel('Neo API key or access token');
    const alert = p.page.locator('#signin-error');

    await input.fill('hello world');
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await textOf(alert, /neither a Neo API key/), /starts with neo_sk_/);
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.deepEqual(apiCalls(p, requests), [], 'a malformed credential is not sent');

    await input.fill(`neo_sk_${'A'.repeat(32)}`);
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await textOf(alert, /not accepted/), /This key or token was not accepted/);

    const expired = await ctx.token(user.email, { sub: user.sub, ttlSeconds: -120 });
    await input.fill(expired);
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    await p.page.waitForFunction(() => document.querySelector('#signin-error')?.textContent?.includes('not accepted') && !document.querySelector('#signin-form')?.getAttribute('aria-busy')?.includes('true'));
    assert.equal(await alert.getAttribute('role'), 'alert');
    assert.equal(await p.page.locator('#view-app').isVisible(), false);
    assert.equal(await p.page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await input.isVisible(), true);
  });

  it('a key revoked during the session sends the user back to sign-in with the reason', async () => {
    const { user, apiKey } = await soloUser();
    const p = await open();
    await signIn(p, apiKey);
    assert.equal((await apiAs(user, 'DELETE', '/api/v1/user/apikey')).status, 200);
    await clickIn(p.page, 'OpenAI', 'Add key for OpenAI');
    await fill(p.page, 'OpenAI', 'API key', 'sk-e2e-after-revoke-0123456789');
    await clickIn(p.page, 'OpenAI', 'Check');
    assert.match(await textOf(p.page.locator('#signin-error'), /no longer valid/), /rotated or revoked/);
    assert.equal(await p.page.locator('#view-app').isVisible(), false);
    assert.equal(await p.page.evaluate(() => sessionStorage.length), 0);
  });

  it('shows loading and error states, and "Try again" recovers', async () => {
    const { apiKey } = await soloUser();
    const p = await open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let failures = 0;
    await p.page.route('**/api/v1/byok/providers', async (route) => {
      await gate;
      if (failures++ === 0) {
        await route.fulfill({
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '5' },
          body: JSON.stringify({ error: 'Service unavailable', code: 'unavailable', error_id: 'req-e2e-1', kind: 'service unavailable', message: 'service unavailable: the database is unreachable' }),
        });
      } else await route.fallback();
    });
    await signIn(p, apiKey);
    const status = p.page.locator('#providers-status');
    assert.match(await textOf(status, /Loading provider keys/), /Loading provider keys…/);
    release();
    const error = await textOf(status, /temporarily unavailable/);
    assert.match(error, /The service is temporarily unavailable\. Service unavailable: the database is unreachable\. Try again in 5 seconds\./);
    assert.equal(await p.page.locator('#provider-list').isVisible(), false);
    await status.getByRole('button', { name: 'Try again' }).click();
    await p.page.locator('#provider-list').waitFor();
    assert.equal(await p.page.locator('#provider-list h3').count(), 9);
    assert.equal(await status.innerText(), '');
  });

  // ------------------------------------------------------------------ keys

  it('adds a key: a rejected key saves nothing, an accepted one is saved and verified', async () => {
    const { user, apiKey } = await soloUser();
    const p = await open();
    await signIn(p, apiKey);
    await clickIn(p.page, 'OpenAI', 'Add key for OpenAI');
    assert.equal(await card(p.page, 'OpenAI').getByLabel('API key', { exact: true }).evaluate((e) => e === document.activeElement), true, 'the key field gets the focus');

    await fill(p.page, 'OpenAI', 'API key', `sk-e2e-rejected-${randomBytes(8).toString('hex')}`);
    await clickIn(p.page, 'OpenAI', 'Save');
    const rejected = await textOf(outcome(p.page, 'OpenAI'), /Rejected/);
    assert.match(rejected, /Rejected: OpenAI did not accept this key\. Nothing was saved/);
    assert.doesNotMatch(await card(p.page, 'OpenAI').innerText(), /you checked is held/, 'nothing was checked, so nothing is said to be held');
    assert.equal(await card(p.page, 'OpenAI').locator('.badge').innerText(), 'Not configured');
    assert.equal(await card(p.page, 'OpenAI').getByLabel('API key', { exact: true }).inputValue(), '', 'the secret is wiped');
    assert.deepEqual(await keysOf(user), []);

    await fill(p.page, 'OpenAI', 'API key', 'sk-e2e-accepted-0123456789abcdefWXYZ');
    await fill(p.page, 'OpenAI', 'Display name (optional)', 'Production');
    await clickIn(p.page, 'OpenAI', 'Save');
    assert.match(await textOf(outcome(p.page, 'OpenAI'), /Saved and verified/), /Saved and verified/);
    const c = card(p.page, 'OpenAI');
    assert.equal(await c.locator('.badge').innerText(), 'Active');
    assert.equal(await c.locator('.key-hint').innerText(), 'sk-…WXYZ');
    assert.match(await c.locator('.key-facts').innerText(), /Production/);
    assert.equal(await c.locator('form').isVisible(), false);
    await textOf(p.page.locator('#key-count'), /^1 key configured$/);
    await waitForAttr(modeSwitch(p.page), 'aria-disabled', null);
    await textOf(p.page.locator('#history-body'), /Added the OpenAI key/);

    const keys = await keysOf(user);
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.provider, 'openai');
    assert.equal(keys[0]!.is_validated, true);
    assert.equal(keys[0]!.display_name, 'Production');
  });

  it('checks a key without saving it, then saves the checked key without a second paste', async () => {
    const { user, apiKey } = await soloUser();
    const p = await open();
    await signIn(p, apiKey);
    await clickIn(p.page, 'Anthropic', 'Add key for Anthropic');

    await fill(p.page, 'Anthropic', 'API key', `sk-ant-e2e-rejected-${randomBytes(6).toString('hex')}`);
    await clickIn(p.page, 'Anthropic', 'Check');
    assert.match(await textOf(outcome(p.page, 'Anthropic'), /Rejected/), /Rejected: Anthropic did not accept this key\. Nothing was saved/);

    const before = keyFakes.requests.filter((r) => r.provider === 'anthropic').length;
    await fill(p.page, 'Anthropic', 'API key', 'sk-ant-e2e-good-0123456789abcdef1234');
    await clickIn(p.page, 'Anthropic', 'Check');
    assert.match(await textOf(outcome(p.page, 'Anthropic'), /The key works/), /The key works\. It is not saved yet/);
    assert.ok(keyFakes.requests.filter((r) => r.provider === 'anthropic').length > before, 'Anthropic was asked');
    assert.equal(await card(p.page, 'Anthropic').getByLabel('API key', { exact: true }).inputValue(), '', 'the secret is wiped after the check');
    assert.equal(await card(p.page, 'Anthropic').locator('.badge').innerText(), 'Not configured');
    assert.deepEqual(await keysOf(user), [], 'a check saves nothing');

    await clickIn(p.page, 'Anthropic', 'Save');
    await textOf(outcome(p.page, 'Anthropic'), /Saved and verified/);
    const keys = await keysOf(user);
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.key_hint, 'sk-…1234');
    // models_count from the save, shown in neo mode too (no byok_models in the profile there).
    const facts = await textOf(card(p.page, 'Anthropic').locator('.key-facts'), /Models reached/);
    assert.match(facts, new RegExp(`Models reached ${MODELS.anthropic.length} models`));
  });

  it('shows the words for a key saved unverified and one saved with a warning', async () => {
    const { apiKey } = await soloUser();
    const p = await open();
    await signIn(p, apiKey);
    await clickIn(p.page, 'xAI', 'Add key for xAI');
    await fill(p.page, 'xAI', 'API key', 'xai-e2e-ratelimited-0123456789abcdef');
    await clickIn(p.page, 'xAI', 'Save');
    assert.match(await textOf(outcome(p.page, 'xAI'), /Saved, but not verified/), /The key is stored and will be used/);
    assert.equal(await card(p.page, 'xAI').locator('.badge').innerText(), 'Not verified');

    await clickIn(p.page, 'OpenAI', 'Add key for OpenAI');
    await fill(p.page, 'OpenAI', 'API key', 'sk-e2e-billing-0123456789abcdef');
    await clickIn(p.page, 'OpenAI', 'Save');
    await textOf(outcome(p.page, 'OpenAI'), /Saved with a warning/);
    assert.equal(await card(p.page, 'OpenAI').locator('.badge').innerText(), 'Billing problem');
  });

  it('shows each stored key\'s health: status badge with the reason, last used, last checked, expiry; "Check now" re-checks and updates the badge', async () => {
    const { user, apiKey } = await soloUser();
    const saved = await apiAs(user, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-e2e-accepted-0123456789abcdefHLTH', expires_at: '2099-01-31T00:00:00.000Z' });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const anthropic = await apiAs(user, 'PATCH', '/api/v1/byok/providers/anthropic', { api_key: 'sk-ant-e2e-good-0123456789abcdefHLTH' });
    assert.equal(anthropic.status, 200, JSON.stringify(anthropic.body));
    // The OpenAI key as the key-health service leaves it after two rejections, used 5 minutes ago.
    const message = 'OpenAI rejected the key: it is invalid, revoked or mistyped';
    await ctx.database.db
      .updateTable('provider_keys')
      .set({ status: 'invalid', last_check_outcome: 'rejected', last_check_message: message, last_used_at: new Date(Date.now() - 5 * 60_000).toISOString() })
      .where('owner_id', '=', user.owner.id)
      .where('provider', '=', 'openai')
      .execute();

    const p = await open();
    await signIn(p, apiKey);
    const c = card(p.page, 'OpenAI');
    await textOf(c.locator('.badge'), /Invalid/);
    assert.equal(await c.locator('.badge').innerText(), 'Invalid');
    const facts = await textOf(c.locator('.key-facts'), /Invalid/);
    assert.match(facts, /Status Invalid: OpenAI rejected the key: it is invalid, revoked or mistyped\./);
    assert.match(facts, /Expires .*2099/);
    const usage = await textOf(c.locator('.key-usage'), /Last used/);
    assert.match(usage, /^Last used 5 minutes ago · Last checked /);
    assert.match(await c.locator('.key-last-used time').getAttribute('datetime') ?? '', /^\d{4}-\d\d-\d\dT/);
    // The other key: active, never used, no expiry.
    const a = card(p.page, 'Anthropic');
    assert.equal(await a.locator('.badge').innerText(), 'Active');
    assert.match(await a.locator('.key-usage').innerText(), /^Never used · Last checked /);
    assert.doesNotMatch(await a.locator('.key-facts').innerText(), /Expires/);
    // No key, no button.
    assert.equal(await card(p.page, 'xAI').getByRole('button', { name: 'Check now for xAI' }).count(), 0);

    // The provider accepts the key again: one acceptance makes it active.
    const calls = keyFakes.requests.filter((r) => r.provider === 'openai').length;
    await clickIn(p.page, 'OpenAI', 'Check now for OpenAI');
    await textOf(outcome(p.page, 'OpenAI'), /Checked: Active/);
    assert.equal(await c.locator('.badge').innerText(), 'Active');
    assert.doesNotMatch(await c.locator('.key-facts').innerText(), /rejected/);
    assert.ok(keyFakes.requests.filter((r) => r.provider === 'openai').length > calls, 'OpenAI was asked');
    const key = (await keysOf(user)).find((k) => k.provider === 'openai')!;
    assert.equal(key.status, 'active');
    assert.match(await c.locator('.key-usage').innerText(), /^Last used 5 minutes ago · Last checked just now$/);
  });

  it('shows an unreadable key (tampered ciphertext) as "replace this key", and lets the admin replace or delete it', async () => {
    const { user, apiKey } = await soloUser();
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-e2e-tamper-openai-0123456789ABCD' })).status, 200);
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/anthropic', { api_key: 'sk-ant-e2e-tamper-0123456789EFGH' })).status, 200);
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/xai', { api_key: 'xai-e2e-untouched-0123456789IJKL' })).status, 200);
    // Corrupt the stored ciphertexts directly in the database (one flipped byte each).
    for (const provider of ['openai', 'anthropic'] as const) {
      const where = ctx.database.db
        .selectFrom('provider_keys')
        .select('ciphertext')
        .where('owner_type', '=', user.owner.type)
        .where('owner_id', '=', user.owner.id)
        .where('provider', '=', provider);
      const parts = (await where.executeTakeFirstOrThrow()).ciphertext.split('.');
      const sealed = Buffer.from(parts[2]!, 'base64url');
      sealed[sealed.length - 20]! ^= 0x01;
      await ctx.database.db
        .updateTable('provider_keys')
        .set({ ciphertext: `${parts[0]}.${parts[1]}.${sealed.toString('base64url')}` })
        .where('owner_type', '=', user.owner.type)
        .where('owner_id', '=', user.owner.id)
        .where('provider', '=', provider)
        .execute();
    }
    ctx.app.services.bus.publish('owner', `${user.owner.type}:${user.owner.id}`);
    ctx.app.services.vault.clearCache();
    const listed = new Map((await keysOf(user)).map((k) => [k.provider, k.status]));
    assert.deepEqual(Object.fromEntries(listed), { anthropic: 'unreadable', openai: 'unreadable', xai: 'active' }, 'the API reports the state');

    const p = await open();
    await signIn(p, apiKey);
    await textOf(p.page.locator('#key-count'), /^3 keys configured$/);
    const openai = card(p.page, 'OpenAI');
    await openai.locator('.badge').filter({ hasText: 'Unreadable' }).waitFor();
    const summary = await textOf(openai.locator('.card-summary'), /replace this key/);
    assert.match(summary, /This key is unreadable — replace this key\./);
    assert.match(summary, /can no longer be decrypted: it was changed or moved in the database, or the server's master key/);
    assert.match(summary, /requests that would use this OpenAI key fail until you replace it \(Replace key\) or delete it/);
    assert.match(summary, /Status Unreadable — replace this key/);
    assert.doesNotMatch(summary, /Verified/);
    assert.equal(await openai.locator('.key-hint').innerText(), 'sk-…ABCD', 'the hint still says which key it was');
    assert.equal(await card(p.page, 'Anthropic').locator('.badge').innerText(), 'Unreadable');
    assert.equal(await card(p.page, 'xAI').locator('.badge').innerText(), 'Active', 'a readable key is unaffected');
    assert.equal(await card(p.page, 'xAI').locator('.key-unreadable').count(), 0);

    // Replace the OpenAI key from its card: it turns readable and verified.
    await clickIn(p.page, 'OpenAI', 'Replace key for OpenAI');
    await fill(p.page, 'OpenAI', 'API key', 'sk-e2e-tamper-fresh-0123456789MNOP');
    await clickIn(p.page, 'OpenAI', 'Save new key');
    await textOf(outcome(p.page, 'OpenAI'), /Saved and verified/);
    assert.equal(await openai.locator('.badge').innerText(), 'Active');
    assert.equal(await openai.locator('.key-unreadable').count(), 0);
    assert.equal(await openai.locator('.key-hint').innerText(), 'sk-…MNOP');

    // Delete the Anthropic key from its card.
    await card(p.page, 'Anthropic').getByRole('button', { name: 'Delete key for Anthropic' }).click();
    const dialog = p.page.getByRole('dialog', { name: 'Delete the Anthropic key?' });
    await dialog.getByRole('button', { name: 'Delete key', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await card(p.page, 'Anthropic').locator('.badge').filter({ hasText: 'Not configured' }).waitFor();
    assert.equal(await card(p.page, 'Anthropic').locator('.key-unreadable').count(), 0);
    await textOf(p.page.locator('#key-count'), /^2 keys configured$/);

    const after = new Map((await keysOf(user)).map((k) => [k.provider, k.status]));
    assert.deepEqual(Object.fromEntries(after), { openai: 'active', xai: 'active' });
    assert.deepEqual(await p.cspViolations(), []);
    assert.deepEqual(p.record.errors, []);
  });

  // ------------------------------------------------------------------ mode + delete

  it('switches to byok; deleting the last key asks first and switches back to neo', async () => {
    const { user, apiKey } = await soloUser();
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-e2e-only-key-0123456789abcd' })).status, 200);
    const p = await open();
    await signIn(p, apiKey);
    await textOf(p.page.locator('#key-count'), /^1 key configured$/);
    await waitForAttr(modeSwitch(p.page), 'aria-disabled', null);
    await modeSwitch(p.page).click();
    await textOf(p.page.locator('#mode-message'), /BYOK is on/);
    assert.equal(await modeSwitch(p.page).getAttribute('aria-checked'), 'true');
    assert.match(await p.page.locator('#mode-value').innerText(), /your own provider keys \(BYOK\)/);
    assert.equal(await modeOf(user), 'byok');
    // In byok mode the profile lists what the key reaches.
    await textOf(card(p.page, 'OpenAI').locator('.key-facts'), /Models reached/);
    await textOf(p.page.locator('#history-body'), /Switched from Neo platform keys to your own provider keys/);

    // Keyboard: open the dialog, Escape closes it and the focus goes back.
    const del = card(p.page, 'OpenAI').getByRole('button', { name: 'Delete key for OpenAI' });
    await del.focus();
    await p.page.keyboard.press('Enter');
    const dialog = p.page.getByRole('dialog', { name: 'Delete the OpenAI key?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /This is the last provider key and BYOK is on: deleting it switches your account back to Neo platform keys \(mode neo\)/);
    assert.equal(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((e) => e === document.activeElement), true);
    await p.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await del.evaluate((e) => e === document.activeElement), true, 'focus returns to the Delete button');
    assert.equal((await keysOf(user)).length, 1, 'cancel deletes nothing');

    await del.click();
    await dialog.getByRole('button', { name: 'Delete key', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.match(await textOf(p.page.locator('#global-notice'), /switched back/), /last provider key, so the mode switched back to Neo platform keys/);
    await waitForAttr(modeSwitch(p.page), 'aria-checked', 'false');
    assert.equal(await card(p.page, 'OpenAI').locator('.badge').innerText(), 'Not configured');
    await textOf(p.page.locator('#key-count'), /^0 keys configured$/);
    assert.equal(await modeSwitch(p.page).getAttribute('aria-disabled'), 'true');
    assert.match(await textOf(p.page.locator('#history-body .event').first(), /automatically/), /Switched back to Neo platform keys automatically: the last key was deleted/);
    assert.equal(await modeOf(user), 'neo');
    assert.deepEqual(await keysOf(user), []);
  });

  it('pages through the history, newest first', async () => {
    const { user, apiKey } = await soloUser();
    // 12 changes: 6 saves then 6 replacements of the same key.
    for (let i = 0; i < 12; i++) {
      assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/google', { api_key: `AIza-e2e-history-${i}-0123456789`, display_name: `v${i}` })).status, 200);
    }
    const p = await open();
    await signIn(p, apiKey);
    const history = p.page.locator('#history-body');
    assert.equal(await textOf(p.page.locator('#history-range'), /of 12/), '1–10 of 12');
    const first = await history.locator('.event-what').allInnerTexts();
    assert.equal(first.length, 10);
    assert.equal(first.at(-1), 'Replaced the Google AI (Gemini API) key');
    await history.getByRole('button', { name: 'Older' }).click();
    assert.equal(await textOf(p.page.locator('#history-range'), /11–12/), '11–12 of 12');
    assert.deepEqual(await history.locator('.event-what').allInnerTexts(), ['Replaced the Google AI (Gemini API) key', 'Added the Google AI (Gemini API) key']);
    assert.equal(await history.getByRole('button', { name: 'Older' }).isDisabled(), true);
    await history.getByRole('button', { name: 'Newer' }).click();
    assert.equal(await textOf(p.page.locator('#history-range'), /1–10/), '1–10 of 12');
  });

  // ------------------------------------------------------------------ who may do what

  it('members and viewers see the mode and key count read-only', async () => {
    const admin = await createUser(ctx, 'ada.admin@example.com');
    const member = await createUser(ctx, 'max.member@example.com');
    const viewer = await createUser(ctx, uniqueEmail('viewer'));
    const team = await createTeam(ctx, [
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
      { user: viewer, role: 'viewer' },
    ], 'Acme Security');
    await setByok(ctx, team.owner);
    assert.equal((await apiAs(admin, 'PATCH', '/api/v1/byok/providers/openai', { api_key: 'sk-e2e-team-key-0123456789abcd' })).status, 200);
    assert.equal((await apiAs(admin, 'PATCH', '/api/v1/byok/mode', { mode: 'byok' })).status, 200);

    for (const [u, role] of [
      [member, 'member'],
      [viewer, 'viewer'],
    ] as const) {
      const p = await open();
      const requests = trackRequests(p);
      await signIn(p, role === 'member' ? await createApiKey(ctx, u) : jwtOf(u));
      const note = await textOf(p.page.locator('#readonly-note'), /Only team admins manage BYOK/);
      assert.match(note, new RegExp(`You are a ${role} of Acme Security`));
      assert.match(await p.page.locator('#mode-value').innerText(), /your own provider keys \(BYOK\)/);
      assert.equal(await p.page.locator('#key-count').innerText(), '1 key configured');
      assert.equal(await modeSwitch(p.page).getAttribute('aria-checked'), 'true');
      assert.equal(await modeSwitch(p.page).getAttribute('aria-disabled'), 'true');
      assert.match(await p.page.locator('#mode-reason').innerText(), new RegExp(`Only team admins can change the mode\\. Your role in Acme Security is ${role}`));
      assert.equal(await p.page.locator('#providers').isVisible(), false);
      assert.equal(await p.page.locator('#history').isVisible(), false);
      assert.equal(await p.page.getByRole('button', { name: /Add key|Delete key|Replace key/ }).count(), 0, 'no key controls at all');
      if (role === 'member') await screenshot(p.page, 'member-read-only');
      // aria-disabled keeps it focusable (the reason is read out); a click changes nothing.
      await modeSwitch(p.page).click({ force: true });
      await p.page.waitForTimeout(200);
      const calls = apiCalls(p, requests);
      assert.deepEqual([...new Set(calls)].sort(), ['GET /api/v1/byok/mode', 'GET /api/v1/user'], `${role}: only what a ${role} may read`);
      assert.ok(p.record.responses.every((r) => r.status() < 400), 'no request was refused');
    }
    assert.equal(await modeOf(admin), 'byok');
  });

  it('with the byok flag off the switch is disabled with the reason and keys cannot be added', async () => {
    const { apiKey } = await soloUser(uniqueEmail('noflag'), false);
    const p = await open();
    await signIn(p, apiKey);
    assert.match(await textOf(p.page.locator('#mode-reason'), /not enabled/), /BYOK is not enabled for your account/);
    assert.equal(await modeSwitch(p.page).getAttribute('aria-disabled'), 'true');
    assert.match(await textOf(p.page.locator('#providers-status'), /once BYOK is enabled/), /Provider keys can be added once BYOK is enabled/);
    assert.equal(await p.page.locator('#provider-list').isVisible(), false);
    assert.equal(p.record.responses.filter((r) => r.url().includes('/byok/providers')).length, 0);
  });

  // ------------------------------------------------------------------ cloud forms

  it('cloud providers: Vertex from a key file, Bedrock access keys, Azure endpoint', async () => {
    const { user, apiKey } = await soloUser('casey.cloud@example.com');
    const p = await open();
    await signIn(p, apiKey);

    // Vertex: the file picker fills the textarea; the region default is pre-filled.
    const sa = makeServiceAccount({ projectId: 'acme-ml' });
    google.addAccount(sa);
    await clickIn(p.page, 'Google Vertex AI', 'Add key for Google Vertex AI');
    const vertex = card(p.page, 'Google Vertex AI');
    assert.equal(await vertex.getByLabel('Region', { exact: true }).inputValue(), 'us-central1');
    await vertex.getByLabel('Or choose the key file').setInputFiles({ name: 'acme-ml-key.json', mimeType: 'application/json', buffer: Buffer.from(sa.json) });
    await textOf(vertex.locator('.file-status'), /Loaded acme-ml-key\.json/);
    assert.equal(await vertex.getByLabel('Service-account key (JSON)').inputValue(), sa.json);
    await clickIn(p.page, 'Google Vertex AI', 'Save');
    await textOf(outcome(p.page, 'Google Vertex AI'), /Saved and verified/);
    assert.equal(await vertex.locator('.key-hint').innerText(), sa.clientEmail);
    assert.match(await vertex.locator('.key-facts').innerText(), /Region\s+us-central1/);

    // Bedrock: IAM access keys, region pre-filled.
    const ids = aws.addIdentity();
    await clickIn(p.page, 'Amazon Bedrock', 'Add key for Amazon Bedrock');
    const bedrock = card(p.page, 'Amazon Bedrock');
    assert.equal(await bedrock.getByLabel('Region', { exact: true }).inputValue(), 'us-east-1');
    await bedrock.getByLabel('IAM access keys (SigV4)').check();
    // A wrong secret first: refused; the access key id and region stay, the secret is
    // wiped and focused, the error is shown once, and nothing claims a checked key is held.
    await bedrock.getByLabel('Access key id').fill(ids.access_key_id);
    await bedrock.getByLabel('Secret access key').fill(`wrong-${randomBytes(12).toString('hex')}`);
    await clickIn(p.page, 'Amazon Bedrock', 'Save');
    const refused = await textOf(outcome(p.page, 'Amazon Bedrock'), /Rejected/);
    assert.match(refused, /^Rejected: Amazon Bedrock did not accept this key\. Nothing was saved\./);
    assert.equal(await bedrock.getByLabel('Access key id').inputValue(), ids.access_key_id, 'the access key id is kept');
    assert.equal(await bedrock.getByLabel('Region', { exact: true }).inputValue(), 'us-east-1', 'the region is kept');
    assert.equal(await bedrock.getByLabel('Secret access key').inputValue(), '', 'the secret is wiped');
    assert.equal(await bedrock.getByLabel('Secret access key').evaluate((e) => e === document.activeElement), true, 'the field at fault has the focus');
    const detail = (await outcome(p.page, 'Amazon Bedrock').locator('.notice-detail').innerText()).trim();
    const cardText = await bedrock.innerText();
    assert.equal(cardText.split(detail).length - 1, 1, `the error is shown once: ${cardText}`);
    assert.doesNotMatch(cardText, /you checked is held/);
    await bedrock.getByLabel('Secret access key').fill(ids.secret_access_key);
    await screenshot(p.page, 'provider-form');
    await clickIn(p.page, 'Amazon Bedrock', 'Save');
    await textOf(outcome(p.page, 'Amazon Bedrock'), /Saved and verified/);
    assert.equal(await bedrock.locator('.key-hint').innerText(), `${ids.access_key_id.slice(0, 4)}…${ids.access_key_id.slice(-4)}`);
    assert.doesNotMatch(await bedrock.locator('.key-facts').innerText(), /Name/, 'no "Name none" for a key without a name');
    await bedrock.getByRole('button', { name: 'Delete key for Amazon Bedrock' }).click();
    const deleteDialog = p.page.getByRole('dialog', { name: 'Delete the Amazon Bedrock key?' });
    await deleteDialog.waitFor();
    assert.match(await deleteDialog.innerText(), /You can add an Amazon Bedrock key again later\./);
    await deleteDialog.getByRole('button', { name: 'Cancel' }).click();
    await deleteDialog.waitFor({ state: 'hidden' });

    // Azure: a non-Azure endpoint is refused on its field; the fake's endpoint works.
    const azureSecret = randomBytes(16).toString('hex');
    azure.keys.add(azureSecret);
    await clickIn(p.page, 'Azure AI Foundry', 'Add key for Azure AI Foundry');
    const az = card(p.page, 'Azure AI Foundry');
    assert.match(await az.locator('.formats').innerText(), /openai\.azure\.com[\s\S]*services\.ai\.azure\.com[\s\S]*cognitiveservices\.azure\.com/);
    await az.getByLabel('Endpoint URL').fill('https://example.com');
    await az.getByLabel('Resource key').fill(azureSecret);
    await clickIn(p.page, 'Azure AI Foundry', 'Save');
    await textOf(outcome(p.page, 'Azure AI Foundry'), /Not saved/);
    assert.equal(await az.getByLabel('Endpoint URL').getAttribute('aria-invalid'), 'true');
    await az.getByLabel('Endpoint URL').fill(azure.url);
    await clickIn(p.page, 'Azure AI Foundry', 'Save');
    await textOf(outcome(p.page, 'Azure AI Foundry'), /Saved and verified/);
    assert.match(await az.locator('.key-facts').innerText(), /Endpoint\s+http:\/\/127\.0\.0\.1/);

    const byProvider = new Map((await keysOf(user)).map((k) => [k.provider, k]));
    assert.deepEqual([...byProvider.keys()].sort(), ['amazon-bedrock', 'azure-foundry', 'google-vertex']);
    assert.equal(byProvider.get('google-vertex')!.location, 'us-central1');
    assert.equal(byProvider.get('amazon-bedrock')!.location, 'us-east-1');

    // The state of a team using its own keys, for the docs.
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/anthropic', { api_key: 'sk-ant-e2e-docs-0123456789abcd', display_name: 'Research' })).status, 200);
    await p.page.reload();
    await p.page.getByRole('heading', { level: 1, name: 'BYOK settings' }).waitFor();
    await textOf(p.page.locator('#key-count'), /^4 keys configured$/);
    await waitForAttr(modeSwitch(p.page), 'aria-disabled', null);
    await modeSwitch(p.page).click();
    await textOf(p.page.locator('#mode-message'), /BYOK is on/);
    await textOf(p.page.locator('#history-body'), /Switched from/);
    await screenshot(p.page, 'byok-with-keys');
  });

  // ------------------------------------------------------------------ secrets, CSP, layout

  it('never renders a saved provider key back: HTML, DOM, inputs, storage and every response', async () => {
    const { apiKey } = await soloUser();
    const planted = `sk-e2e-PLANTED${randomBytes(12).toString('hex')}Zq9`;
    const plantedRejected = `sk-e2e-rejected-PLANTED${randomBytes(12).toString('hex')}`;
    const ids = aws.addIdentity({ temporary: true });
    const sa = makeServiceAccount({ projectId: 'planted-project' });
    google.addAccount(sa);
    // A line from the middle of the service account's private key.
    const privateKeyLine = sa.privateKeyPem.split('\n')[5]!;
    const secrets = [planted, planted.slice(10, 26), plantedRejected.slice(16), ids.secret_access_key, ids.session_token!, privateKeyLine];
    const p = await open();
    await signIn(p, apiKey);

    /** The rendered page (HTML, live DOM, every field's value, storage) holds no planted secret. */
    async function assertPageClean(when: string): Promise<void> {
      const html = await p.page.content();
      const dom = await p.page.evaluate(() => document.documentElement.outerHTML);
      const values = await p.page.evaluate(() =>
        [...document.querySelectorAll('input, textarea, select')].map((e) => e.value ?? '').join('\n'),
      );
      const storage = await p.page.evaluate(() => JSON.stringify({ session: { ...sessionStorage }, local: { ...localStorage } }));
      assert.ok(dom.includes('BYOK settings'), `${when}: the DOM was captured`);
      for (const s of secrets) {
        assert.ok(!html.includes(s), `${when}: page HTML contains a planted secret`);
        assert.ok(!dom.includes(s), `${when}: DOM contains a planted secret`);
        assert.ok(!values.includes(s), `${when}: an input value contains a planted secret`);
        assert.ok(!storage.includes(s), `${when}: storage contains a planted secret`);
      }
    }

    await clickIn(p.page, 'OpenAI', 'Add key for OpenAI');
    // OpenAI's own 401 body echoes part of the key: the page must not show it either.
    await fill(p.page, 'OpenAI', 'API key', plantedRejected);
    await clickIn(p.page, 'OpenAI', 'Save');
    await textOf(outcome(p.page, 'OpenAI'), /Rejected/);
    await assertPageClean('after a rejected save');
    await fill(p.page, 'OpenAI', 'API key', planted);
    await clickIn(p.page, 'OpenAI', 'Check');
    await textOf(outcome(p.page, 'OpenAI'), /The key works/);
    await assertPageClean('after a check');
    await clickIn(p.page, 'OpenAI', 'Save');
    await textOf(outcome(p.page, 'OpenAI'), /Saved and verified/);
    await assertPageClean('after saving the OpenAI key');

    await clickIn(p.page, 'Amazon Bedrock', 'Add key for Amazon Bedrock');
    const bedrock = card(p.page, 'Amazon Bedrock');
    await bedrock.getByLabel('IAM access keys (SigV4)').check();
    await bedrock.getByLabel('Access key id').fill(ids.access_key_id);
    await bedrock.getByLabel('Secret access key').fill(ids.secret_access_key);
    await bedrock.getByLabel('Session token (optional)').fill(ids.session_token!);
    await clickIn(p.page, 'Amazon Bedrock', 'Save');
    await textOf(outcome(p.page, 'Amazon Bedrock'), /Saved and verified/);
    await assertPageClean('after saving the Bedrock keys');

    await clickIn(p.page, 'Google Vertex AI', 'Add key for Google Vertex AI');
    const vertex = card(p.page, 'Google Vertex AI');
    await vertex.getByLabel('Or choose the key file').setInputFiles({ name: 'key.json', mimeType: 'application/json', buffer: Buffer.from(sa.json) });
    await textOf(vertex.locator('.file-status'), /Loaded key\.json/);
    await clickIn(p.page, 'Google Vertex AI', 'Save');
    await textOf(outcome(p.page, 'Google Vertex AI'), /Saved and verified/);
    await assertPageClean('after saving the Vertex service account');

    // A fresh load of the page (the list endpoint) after the saves.
    await p.page.reload();
    await p.page.getByRole('heading', { level: 1, name: 'BYOK settings' }).waitFor();
    await textOf(p.page.locator('#key-count'), /^3 keys configured$/);
    await textOf(card(p.page, 'OpenAI').locator('.key-hint'), /…/);
    await assertPageClean('after a reload');

    const bodies = (await Promise.all(p.record.bodies)).map((b) => b ?? '');
    // The capture itself worked: it holds the save answers and the list answer.
    assert.ok(bodies.some((b) => b.includes('"provider_key"') && b.includes('"validation"')), 'captured a save response');
    assert.ok(bodies.some((b) => b.includes('"provider_keys"') && b.includes('sk-…')), 'captured the list response');
    for (const s of secrets) {
      bodies.forEach((b, i) => assert.ok(!b.includes(s), `response ${p.record.responses[i]?.url()} contains a planted secret`));
    }
  });

  it('keeps to its Content-Security-Policy: no violation while used, and inline code is blocked', async () => {
    const { apiKey } = await soloUser();
    const p = await open();
    const response = await p.page.goto('/');
    assert.match(response!.headers()['content-security-policy'] ?? '', /^default-src 'none'; script-src 'self'; style-src 'self';/);
    await signIn(p, apiKey);
    await clickIn(p.page, 'Google Vertex AI', 'Add key for Google Vertex AI');
    await clickIn(p.page, 'Google Vertex AI', 'Cancel');
    await clickIn(p.page, 'xAI', 'Add key for xAI');
    await fill(p.page, 'xAI', 'API key', 'xai-e2e-csp-0123456789abcdef');
    await clickIn(p.page, 'xAI', 'Save');
    await textOf(outcome(p.page, 'xAI'), /Saved and verified/);
    await card(p.page, 'xAI').getByRole('button', { name: 'Delete key for xAI' }).click();
    await p.page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await p.page.locator('details.models summary').click();
    await p.page.getByRole('button', { name: 'Sign out' }).click();

    assert.deepEqual(await p.cspViolations(), []);
    assert.deepEqual(p.record.console.filter((m) => /Content.Security.Policy|Refused to/i.test(m.text)), []);
    assert.deepEqual(p.record.console.filter((m) => m.type === 'error'), []);
    assert.deepEqual(p.record.errors, []);

    // The detector works: inline script and style are refused and reported.
    const ran = await p.page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.body.append(s);
      const d = document.createElement('div');
      d.setAttribute('style', 'color: red');
      document.body.append(d);
      return window.__inlineRan === true;
    });
    assert.equal(ran, false, 'inline script must not run');
    await p.page.waitForFunction(() => (window.__cspViolations as string[]).length >= 2);
    const violations = await p.cspViolations();
    assert.ok(violations.some((v) => v.startsWith('script-src')), violations.join('\n'));
    assert.ok(violations.some((v) => v.startsWith('style-src')), violations.join('\n'));
  });

  it('is usable at 375 px: no sideways scrolling, forms and the dialog fit', async () => {
    const { user, apiKey } = await soloUser('mo.mobile@example.com');
    assert.equal((await apiAs(user, 'PATCH', '/api/v1/byok/providers/openrouter', { api_key: 'sk-or-v1-e2e-mobile-0123456789ab' })).status, 200);
    const p = await open({ width: 375, height: 812 });
    await signIn(p, apiKey);
    await textOf(p.page.locator('#key-count'), /^1 key configured$/);
    const overflow = () => p.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(await overflow(), 0, 'overview fits');
    await screenshot(p.page, 'mobile-375', { fullPage: false });

    await clickIn(p.page, 'Azure AI Foundry', 'Add key for Azure AI Foundry');
    assert.equal(await overflow(), 0, 'the Azure form fits');
    await clickIn(p.page, 'Azure AI Foundry', 'Cancel');
    await clickIn(p.page, 'Google Vertex AI', 'Add key for Google Vertex AI');
    assert.equal(await overflow(), 0, 'the Vertex form fits');
    const box = await card(p.page, 'Google Vertex AI').getByLabel('Service-account key (JSON)').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, 'the textarea is inside the screen');

    await card(p.page, 'OpenRouter').getByRole('button', { name: 'Delete key for OpenRouter' }).click();
    const dialog = p.page.getByRole('dialog');
    await dialog.waitFor();
    const d = await dialog.boundingBox();
    assert.ok(d && d.x >= 0 && d.x + d.width <= 375, 'the dialog is inside the screen');
    for (const name of ['Cancel', 'Delete key']) {
      const b = await dialog.getByRole('button', { name, exact: true }).boundingBox();
      assert.ok(b && b.height >= 36 && b.x + b.width <= 375, `${name} is a usable touch target`);
    }
  });
});
