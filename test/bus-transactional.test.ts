/**
 * On PostgreSQL an invalidation commits with the write that causes it (issue 12 item 9):
 * the services publish inside their transaction and the PostgreSQL bus sends it there
 * as `pg_notify`, which PostgreSQL delivers at COMMIT. Here instance A can never send a
 * message after a commit (its out-of-transaction path fails, as when the process dies or
 * its pool breaks between the commit and the publish): instance B must still hear of a
 * deleted API key, a turned-off flag, a demoted team admin and a renamed team. Before, every publish
 * went out after the commit and B kept the stale answers until the cache TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PgBus } from '../src/db/notify.ts';
import type { TestContext } from './helpers/context.ts';
import { postgresTestUrl } from './helpers/databases.ts';
import { createUser } from './helpers/fixtures.ts';
import { eventually } from './helpers/processes.ts';
import { byokUserWithApiKey, startTwoInstances, type TwoInstances } from './helpers/two-instances.ts';

/** A bus whose only way out is the writing transaction: sending after a commit fails. */
class NoAfterCommitSendBus extends PgBus {
  sentAfterCommit = 0;
  protected override forward(): Promise<unknown> {
    this.sentAfterCommit++;
    return Promise.reject(new Error('simulated: the process died between COMMIT and publish'));
  }
}

describe('PostgreSQL: invalidations commit with their write', { skip: postgresTestUrl() ? false : 'NEO_TEST_DATABASE_URL is not set', timeout: 120_000 }, () => {
  let two: TwoInstances;
  let busA: NoAfterCommitSendBus;

  before(async () => {
    two = await startTwoInstances({
      dirPrefix: 'neo-bustx-',
      env: { NEO_KEY_RECHECK: 'off' },
      buses: async (tdb, ha, hb) => {
        busA = new NoAfterCommitSendBus({ url: tdb.url, db: ha.db });
        return [busA, new PgBus({ url: tdb.url, db: hb.db })];
      },
    });
  });

  after(() => two?.close());

  it('a deleted API key and a flag turned off on A are refused by B within a second', async () => {
    const { a } = two;
    const { user, withKeyOnB: withKey, flagOnB } = await byokUserWithApiKey(two);
    // B has the key and the flag cached.
    assert.equal(await withKey(), 200);
    assert.equal(await flagOnB(), true);

    const del = await a.inject({ method: 'DELETE', url: '/api/v1/user/apikey', headers: user.headers });
    assert.equal(del.statusCode, 200, del.body);
    await a.services.features.set(user.owner, 'byok', false);
    assert.equal(await eventually(async () => (await withKey()) === 401, 1000), true, 'B refuses the deleted key');
    assert.equal(await eventually(async () => (await flagOnB()) === false, 1000), true, 'B sees the flag off');
    assert.equal(busA.sentAfterCommit, 0, 'nothing was left to send after a commit');
  });

  it('a team admin demoted on A loses admin rights on B within a second', async () => {
    const { a, b } = two;
    const fx = { database: two.database } as unknown as TestContext;
    const owner = await createUser(fx);
    const other = await createUser(fx);
    const team = await a.inject({ method: 'POST', url: '/api/v1/teams', headers: owner.headers, payload: { name: 'tx-bus' } });
    assert.equal(team.statusCode, 201, team.body);
    const inv = await a.inject({ method: 'POST', url: '/api/v1/teams/members/invite', headers: owner.headers, payload: { email: other.email, role: 'admin' } });
    assert.equal(inv.statusCode, 201, inv.body);
    const token = inv.json<{ invite_token: string }>().invite_token;
    const acc = await a.inject({ method: 'POST', url: '/api/v1/teams/invitations/accept', headers: other.headers, payload: { invite_token: token } });
    assert.equal(acc.statusCode, 200, acc.body);
    const roleOnB = async () => (await b.inject({ method: 'GET', url: '/api/v1/user', headers: other.headers })).json<{ team: { role: string } | null }>().team?.role;
    // B has the membership cached.
    assert.equal(await roleOnB(), 'admin');

    const demote = await a.inject({ method: 'PATCH', url: '/api/v1/teams/members/role', headers: owner.headers, payload: { email: other.email, role: 'viewer' } });
    assert.equal(demote.statusCode, 200, demote.body);
    assert.equal(await eventually(async () => (await roleOnB()) === 'viewer', 1000), true, 'B sees the demotion');
    assert.equal(busA.sentAfterCommit, 0, 'nothing was left to send after a commit');
  });

  it("a team renamed on A shows under the new name in B's GET /user within a second", async () => {
    const { a, b } = two;
    const fx = { database: two.database } as unknown as TestContext;
    const owner = await createUser(fx);
    const team = await a.inject({ method: 'POST', url: '/api/v1/teams', headers: owner.headers, payload: { name: 'before-rename' } });
    assert.equal(team.statusCode, 201, team.body);
    const nameOnB = async () => (await b.inject({ method: 'GET', url: '/api/v1/user', headers: owner.headers })).json<{ team: { name: string } | null }>().team?.name;
    // B has the team's name cached.
    assert.equal(await nameOnB(), 'before-rename');
    assert.equal(await nameOnB(), 'before-rename');

    const rename = await a.inject({ method: 'PATCH', url: '/api/v1/teams', headers: owner.headers, payload: { name: 'after-rename' } });
    assert.equal(rename.statusCode, 200, rename.body);
    assert.equal(await eventually(async () => (await nameOnB()) === 'after-rename', 1000), true, 'B sees the new name');
    assert.equal(busA.sentAfterCommit, 0, 'nothing was left to send after a commit');
  });
});
