/**
 * Authority is re-checked where the write happens (issue 13 item 2). A key save checks
 * the key with the provider first, which can take many seconds; a team admin removed or
 * demoted meanwhile, or an owner whose `byok` flag was turned off meanwhile, must get
 * 403 with nothing saved and no audit row. The same holds for a mode change or a delete
 * admitted on a stale cache (another instance's change whose bus message has not
 * arrived): the write re-reads membership, role and flag as committed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startFakeKeyProviders, type FakeKeyProviders } from './fakes/key-providers.ts';
import { insertKey } from './helpers/byok.ts';
import { createTestContext, testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, setByok, type TestTeam, type TestUser } from './helpers/fixtures.ts';

/**
 * A fetch that holds every provider call until `open()`: the provider "answers after
 * several seconds", as long as the test needs to change the caller's authority.
 */
function slowProviderFetch() {
  let release: () => void = () => undefined;
  let held = Promise.resolve();
  let entered: () => void = () => undefined;
  let calledP = Promise.resolve();
  const fetchFn: typeof fetch = async (input, init) => {
    const gate = held;
    entered();
    await gate;
    return fetch(input, init);
  };
  return {
    fetchFn,
    /** Holds the next provider calls; resolves `called` when the first arrives. */
    hold() {
      held = new Promise<void>((r) => (release = r));
      calledP = new Promise<void>((r) => (entered = r));
    },
    called: () => calledP,
    /** Lets later calls through at once (the held ones stay held). */
    passLater: () => {
      held = Promise.resolve();
    },
    open: () => release(),
  };
}

for (const dialect of testDialects()) {
  describe(`authority re-checked inside the write [${dialect}]`, () => {
    let ctx: TestContext;
    let fake: FakeKeyProviders;
    const slow = slowProviderFetch();

    before(async () => {
      fake = await startFakeKeyProviders();
      ctx = await createTestContext({ dialect, env: fake.env, deps: { fetch: slow.fetchFn } });
    });
    after(async () => {
      slow.open();
      await ctx.close();
      await fake.close();
    });

    /** A team with two admins (so one can be removed) and the flag on. */
    async function teamOfTwoAdmins(): Promise<{ team: TestTeam; a: TestUser; b: TestUser }> {
      const a = await createUser(ctx);
      const b = await createUser(ctx);
      const team = await createTeam(ctx, [
        { user: a, role: 'admin' },
        { user: b, role: 'admin' },
      ]);
      await setByok(ctx, team.owner);
      return { team, a, b };
    }

    const saveKey = (u: TestUser, extra: { display_name?: string } = { display_name: 'mine' }) =>
      ctx.app.inject({
        method: 'PATCH',
        url: '/api/v1/byok/providers/openai',
        headers: u.headers,
        payload: { api_key: `sk-proj-${randomBytes(16).toString('hex')}`, ...extra },
      });

    const keysOf = (t: TestTeam | TestUser) =>
      ctx.database.db.selectFrom('provider_keys').select('provider').where('owner_type', '=', t.owner.type).where('owner_id', '=', t.owner.id).execute();
    const auditBy = (u: TestUser) => ctx.database.db.selectFrom('audit_events').select('action').where('actor_id', '=', u.id).execute();
    const modeOf = async (t: TestTeam | TestUser) =>
      (await ctx.database.db.selectFrom('byok_settings').select('mode').where('owner_type', '=', t.owner.type).where('owner_id', '=', t.owner.id).executeTakeFirst())?.mode ?? 'neo';

    /** Starts a key save by `u`, runs `meanwhile` while the provider check is held, then lets it finish. */
    async function saveWhile(u: TestUser, meanwhile: () => Promise<void>, extra?: { display_name?: string }) {
      slow.hold();
      const pending = saveKey(u, extra);
      await slow.called();
      slow.passLater();
      await meanwhile();
      slow.open();
      return pending;
    }

    it('control: an admin whose authority does not change saves the key', async () => {
      const { team, a } = await teamOfTwoAdmins();
      const res = await saveWhile(a, async () => undefined);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(await keysOf(team), [{ provider: 'openai' }]);
      assert.deepEqual(await auditBy(a), [{ action: 'provider_key.created' }]);
    });

    it('an admin removed from the team during the provider check gets 403; nothing saved, no audit row', async () => {
      const { team, a, b } = await teamOfTwoAdmins();
      const res = await saveWhile(a, async () => {
        const removed = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/teams/members', headers: b.headers, payload: { email: a.email } });
        assert.equal(removed.statusCode, 200, removed.body);
      });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json<{ code: string }>().code, 'forbidden');
      assert.deepEqual(await keysOf(team), []);
      assert.deepEqual(await auditBy(a), []);
    });

    it('an admin demoted to member during the provider check gets 403; nothing saved, no audit row', async () => {
      const { team, a, b } = await teamOfTwoAdmins();
      const res = await saveWhile(a, async () => {
        const demoted = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/teams/members/role', headers: b.headers, payload: { email: a.email, role: 'member' } });
        assert.equal(demoted.statusCode, 200, demoted.body);
      });
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json<{ code: string }>().code, 'forbidden');
      assert.deepEqual(await keysOf(team), []);
      assert.deepEqual(await auditBy(a), []);
    });

    it('the byok flag turned off during the provider check: 403 byok_not_enabled; nothing saved, no audit row', async () => {
      const { team, a } = await teamOfTwoAdmins();
      const res = await saveWhile(a, () => setByok(ctx, team.owner, false));
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json<{ code: string }>().code, 'byok_not_enabled');
      assert.deepEqual(await keysOf(team), []);
      assert.deepEqual(await auditBy(a), []);
    });

    it('a solo user who joins a team during the provider check gets 403; their own settings are untouched', async () => {
      const solo = await createUser(ctx);
      await setByok(ctx, solo.owner);
      const other = await createUser(ctx);
      const res = await saveWhile(solo, async () => {
        await createTeam(ctx, [
          { user: other, role: 'admin' },
          { user: solo, role: 'member' },
        ]);
      });
      assert.equal(res.statusCode, 403, res.body);
      assert.deepEqual(await keysOf({ owner: { type: 'user', id: solo.id } } as TestUser), []);
      assert.deepEqual(await auditBy(solo), []);
    });

    it('two admins saving at once: a save that omits display_name keeps the name the other one saved meanwhile', async () => {
      const { team, a, b } = await teamOfTwoAdmins();
      const first = await saveKey(a, { display_name: 'old name' });
      assert.equal(first.statusCode, 200, first.body);
      // a saves a new secret (keeping the name); b renames the key while a's check runs.
      const res = await saveWhile(
        a,
        async () => {
          const renamed = await saveKey(b, { display_name: 'new name' });
          assert.equal(renamed.statusCode, 200, renamed.body);
        },
        {},
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json<{ provider_key: { display_name: string } }>().provider_key.display_name, 'new name');
      const row = await ctx.database.db.selectFrom('provider_keys').select('display_name').where('owner_id', '=', team.id).executeTakeFirstOrThrow();
      assert.equal(row.display_name, 'new name');
    });

    describe('writes admitted on a stale cache (another instance changed the rows; its bus message is late)', () => {
      /** Changes rows behind the caches' back, as another instance would before its message arrives. */
      const demoteInDb = (t: TestTeam, u: TestUser) =>
        ctx.database.db.updateTable('team_members').set({ role: 'viewer' }).where('team_id', '=', t.id).where('user_id', '=', u.id).execute();
      const removeInDb = (t: TestTeam, u: TestUser) => ctx.database.db.deleteFrom('team_members').where('team_id', '=', t.id).where('user_id', '=', u.id).execute();
      const flagOffInDb = (t: TestTeam) =>
        ctx.database.db.updateTable('features').set({ enabled: 0 }).where('owner_type', '=', t.owner.type).where('owner_id', '=', t.owner.id).execute();

      /** A team whose admin `a` has a key, with `a`'s principal and the flag cached. */
      async function warmTeam() {
        const { team, a, b } = await teamOfTwoAdmins();
        await insertKey(ctx, team.owner, 'openai');
        const warm = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: a.headers });
        assert.equal(warm.statusCode, 200, warm.body);
        return { team, a, b };
      }

      for (const [what, change, code] of [
        ['demoted', (t: TestTeam, u: TestUser) => demoteInDb(t, u), 'forbidden'],
        ['removed', (t: TestTeam, u: TestUser) => removeInDb(t, u), 'forbidden'],
        ['flag off', (t: TestTeam) => flagOffInDb(t), 'byok_not_enabled'],
      ] as const) {
        it(`PATCH /byok/mode by an admin ${what} elsewhere: 403 ${code}, mode unchanged, no audit row`, async () => {
          const { team, a } = await warmTeam();
          await change(team, a);
          const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: a.headers, payload: { mode: 'byok' } });
          assert.equal(res.statusCode, 403, res.body);
          assert.equal(res.json<{ code: string }>().code, code);
          assert.equal(await modeOf(team), 'neo');
          assert.deepEqual(await auditBy(a), []);
        });

        it(`DELETE /byok/providers/openai by an admin ${what} elsewhere: 403 ${code}, key kept, no audit row`, async () => {
          const { team, a } = await warmTeam();
          await change(team, a);
          const res = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/byok/providers/openai', headers: a.headers });
          assert.equal(res.statusCode, 403, res.body);
          assert.equal(res.json<{ code: string }>().code, code);
          assert.deepEqual(await keysOf(team), [{ provider: 'openai' }]);
          assert.deepEqual(await auditBy(a), []);
        });
      }

      it('team management by an admin demoted elsewhere: 403, nothing changed', async () => {
        const { team, a, b } = await warmTeam();
        const warm = await ctx.app.inject({ method: 'GET', url: '/api/v1/teams/members', headers: a.headers });
        assert.equal(warm.statusCode, 200, warm.body);
        await demoteInDb(team, a);
        const invite = await ctx.app.inject({ method: 'POST', url: '/api/v1/teams/members/invite', headers: a.headers, payload: { email: 'x-' + b.email } });
        assert.equal(invite.statusCode, 403, invite.body);
        const role = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/teams/members/role', headers: a.headers, payload: { email: b.email, role: 'viewer' } });
        assert.equal(role.statusCode, 403, role.body);
        const remove = await ctx.app.inject({ method: 'DELETE', url: '/api/v1/teams/members', headers: a.headers, payload: { email: b.email } });
        assert.equal(remove.statusCode, 403, remove.body);
        const rename = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/teams', headers: a.headers, payload: { name: 'taken over' } });
        assert.equal(rename.statusCode, 403, rename.body);
        const members = await ctx.database.db.selectFrom('team_members').select(['email', 'role']).where('team_id', '=', team.id).orderBy('email').execute();
        assert.deepEqual(
          members,
          [
            { email: a.email, role: 'viewer' },
            { email: b.email, role: 'admin' },
          ].sort((x, y) => (x.email < y.email ? -1 : 1)),
        );
      });
    });
  });
}
