/**
 * `neo-byok admin keys recheck` (docs/key-health.md, operator view): the CLI, as its own
 * process on the server's database, makes keys due and re-checks them with the provider
 * through the server's services: the same hysteresis (one rejection keeps a key active,
 * a second one NEO_KEY_INVALID_AFTER later makes it invalid), and the running server
 * sees the new status on its next request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRevocableOpenAi, type RevocableOpenAi } from './fakes/revocable-openai.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';
import { createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';
import { runCli } from './helpers/processes.ts';

describe('admin keys recheck', () => {
  let ctx: TestContext;
  let fakes: ProviderFakes;
  let openai: RevocableOpenAi;

  before(async () => {
    fakes = await startProviderFakes();
    openai = await startRevocableOpenAi();
    ctx = await createTestContext({ env: { ...fakes.env, NEO_PROVIDER_URL_OPENAI: openai.url } });
  });
  after(async () => {
    await ctx.close();
    await openai.close();
    await fakes.close();
  });

  const cli = (args: string[]) =>
    runCli(['admin', 'keys', 'recheck', ...args], {
      NEO_DATA_DIR: ctx.dataDir,
      NEO_DATABASE_URL: ctx.config.databaseUrl,
      NEO_PROVIDER_URL_OPENAI: openai.url,
      NEO_KEY_INVALID_AFTER: '1s',
    });
  async function status(user: TestUser): Promise<string | undefined> {
    const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
    return res.json<{ provider_keys: { provider: string; status: string }[] }>().provider_keys.find((k) => k.provider === 'openai')?.status;
  }

  it('re-checks an owner’s keys with the provider, with the server’s hysteresis; the server sees the result', async () => {
    const user = await createUser(ctx, uniqueEmail('recheck'));
    await setByok(ctx, user.owner);
    const secret = acceptedCredential(fakes, 'openai').api_key;
    const saved = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: secret } });
    assert.equal(saved.statusCode, 200, saved.body);
    assert.equal(await status(user), 'active');
    const calls = openai.calls(secret);

    openai.revoke(secret);
    const first = await cli(['--email', user.email]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), { requested: 1, checked: 1, deferred: 0, statuses: { active: 1 } });
    assert.match(first.stderr, /re-checked 1\/1/);
    assert.equal(openai.calls(secret), calls + 1, 'the provider was asked once');
    assert.equal(await status(user), 'active', 'one rejection keeps the key active');

    await new Promise((r) => setTimeout(r, 1100));
    const second = await cli(['--email', user.email]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).statuses, { invalid: 1 });
    assert.equal(await status(user), 'invalid', 'the running server sees the CLI’s result on its next request');
    assert.doesNotMatch(second.stdout + second.stderr, new RegExp(secret), 'the secret appears nowhere in the output');

    openai.restore(secret);
    const all = await cli(['--all']);
    assert.equal(all.code, 0, all.stderr);
    const out = JSON.parse(all.stdout) as { requested: number; checked: number; statuses: Record<string, number> };
    assert.ok(out.requested >= 1 && out.checked === out.requested, all.stdout);
    assert.equal(await status(user), 'active', 'one acceptance makes it active again');
  });

  it('refuses bad arguments and unknown owners', async () => {
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /exactly one of --email, --team-id or --all/);
    const both = await cli(['--all', '--email', 'a@example.test']);
    assert.equal(both.code, 2);
    const badTeam = await cli(['--team-id', 'not-a-uuid']);
    assert.equal(badTeam.code, 2);
    const unknown = await cli(['--email', uniqueEmail('nobody')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user with email/);
  });
});
