/**
 * Two real server processes (`bin/neo-byok serve`) on one PostgreSQL database
 * (issue 6, items 3–4):
 *
 * - invariants under interleaved conflicting requests sent to both instances at once:
 *   "mode byok ⇒ at least one provider key" (switch to byok vs delete the last key,
 *   and two deletes of the last two keys), one team per user (two creates; two accepts;
 *   create vs accept), one API key per user (two creates), then checked in the database;
 * - cache coherence within one second: a rotated or deleted API key stops working on
 *   the other instance, and the other instance's resolve sees a mode change and a
 *   replaced provider key. Over PostgreSQL LISTEN/NOTIFY, and over Redis pub/sub when
 *   NEO_TEST_REDIS_URL is set.
 *
 * Provider checks go to the fakes running in this test process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { nowIso, openDatabase, type DatabaseHandle } from '../src/db/index.ts';
import { TEST_INTERNAL_TOKEN, type TestContext } from './helpers/context.ts';
import { createPostgresDatabase, postgresTestUrl, redisTestUrl, type TestDatabase } from './helpers/databases.ts';
import { createUser, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';
import { startServerProcess, type ServerProcess } from './helpers/processes.ts';

const skip = postgresTestUrl() ? false : 'NEO_TEST_DATABASE_URL is not set';
/** How soon a change on one instance must be seen by the other (issue 6, item 4). */
const COHERENCE_MS = 1000;

interface Res {
  status: number;
  body: Record<string, unknown>;
}

async function call(server: ServerProcess, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Res> {
  const res = await fetch(server.url + path, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Polls `probe` on the other instance until `done`; returns the ms it took (or -1 when it never happened within `limitMs`). */
async function secondsUntil(probe: () => Promise<boolean>, limitMs: number): Promise<number> {
  const start = Date.now();
  // Keep polling a little past the limit, so a miss reports how late it was.
  while (Date.now() - start < limitMs * 3) {
    if (await probe()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 15));
  }
  return -1;
}

interface Cluster {
  a: ServerProcess;
  b: ServerProcess;
  db: DatabaseHandle;
  fakes: ProviderFakes;
  /** Enough of a TestContext for the DB fixtures (createUser). */
  fx: TestContext;
  /** A user with the byok flag on (written to the database before any server saw them). */
  byokUser: (prefix: string) => Promise<TestUser>;
  saveKey: (server: ServerProcess, user: TestUser, provider: 'openai' | 'anthropic', apiKey?: string) => Promise<string>;
}

function cluster(extraEnv: () => Record<string, string>): { get(): Cluster } {
  let c: Cluster | undefined;
  let tdb: TestDatabase;
  let fakes: ProviderFakes;
  const servers: ServerProcess[] = [];
  before(async () => {
    fakes = await startProviderFakes();
    tdb = await createPostgresDatabase();
    const env = { NEO_DATABASE_URL: tdb.url, ...fakes.env, ...extraEnv() };
    // Started together on the empty database: they race for the migrations too.
    const [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
    servers.push(a, b);
    const db = await openDatabase(tdb.url, { migrate: false, poolSize: 3 });
    const fx = { database: db } as unknown as TestContext;
    c = {
      a,
      b,
      db,
      fakes,
      fx,
      byokUser: async (prefix) => {
        const u = await createUser(fx, uniqueEmail(prefix));
        await db.db
          .insertInto('features')
          .values({ owner_type: 'user', owner_id: u.id, name: 'byok', enabled: 1, updated_at: nowIso() })
          .execute();
        return u;
      },
      saveKey: async (server, user, provider, apiKey) => {
        const key = apiKey ?? acceptedCredential(fakes, provider).api_key;
        const res = await call(server, 'PATCH', `/api/v1/byok/providers/${provider}`, user.headers, { api_key: key });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return key;
      },
    };
  });
  after(async () => {
    const codes = await Promise.all(servers.map((s) => s.stop()));
    await c?.db.close();
    await tdb?.drop();
    await fakes?.close();
    // Graceful shutdown of both instances.
    assert.deepEqual(codes, servers.map(() => 0));
  });
  return {
    get: () => {
      if (!c) throw new Error('cluster not started');
      return c;
    },
  };
}

describe('two instances on one PostgreSQL database: invariants under races', { skip, timeout: 300_000 }, () => {
  const cl = cluster(() => ({}));
  const ROUNDS = 12;

  it('switch to byok (one instance) vs delete the last key (the other): never byok without a key', async () => {
    const { a, b, byokUser, saveKey, db } = cl.get();
    const users = await Promise.all(Array.from({ length: ROUNDS }, () => byokUser('race-mode')));
    for (const u of users) await saveKey(a, u, 'openai');
    // Interleaved: half the rounds send the switch to A and the delete to B, half the reverse.
    const outcomes = await Promise.all(
      users.map(async (u, i) => {
        const [sw, del] = i % 2 ? [a, b] : [b, a];
        const [m, d] = await Promise.all([
          call(sw, 'PATCH', '/api/v1/byok/mode', u.headers, { mode: 'byok' }),
          call(del, 'DELETE', '/api/v1/byok/providers/openai', u.headers),
        ]);
        return { u, m, d };
      }),
    );
    for (const { m, d } of outcomes) {
      assert.equal(d.status, 200, JSON.stringify(d.body));
      assert.equal(d.body.remaining_keys, 0);
      if (m.status === 200) {
        // The switch committed first, so the delete saw byok and switched back.
        assert.equal(d.body.auto_switched, true);
      } else {
        assert.equal(m.status, 400);
        assert.equal(m.body.code, 'byok_no_provider_keys');
        assert.equal(d.body.auto_switched, false);
      }
    }
    const modes = await db.db
      .selectFrom('byok_settings')
      .select(['owner_id', 'mode'])
      .where('owner_id', 'in', users.map((u) => u.id))
      .execute();
    for (const r of modes) assert.equal(r.mode, 'neo', 'no key left, so the mode is neo');
  });

  it('deleting the last two keys on both instances at once switches to neo exactly once', async () => {
    const { a, b, byokUser, saveKey, db } = cl.get();
    const users = await Promise.all(Array.from({ length: ROUNDS }, () => byokUser('race-delete')));
    for (const u of users) {
      await saveKey(a, u, 'openai');
      await saveKey(b, u, 'anthropic');
      assert.equal((await call(a, 'PATCH', '/api/v1/byok/mode', u.headers, { mode: 'byok' })).status, 200);
    }
    const outcomes = await Promise.all(
      users.map((u) =>
        Promise.all([call(a, 'DELETE', '/api/v1/byok/providers/openai', u.headers), call(b, 'DELETE', '/api/v1/byok/providers/anthropic', u.headers)]),
      ),
    );
    for (const [d1, d2] of outcomes) {
      assert.equal(d1.status, 200);
      assert.equal(d2.status, 200);
      assert.deepEqual([d1.body.remaining_keys, d2.body.remaining_keys].sort(), [0, 1], 'the deletes were serialized');
      assert.equal([d1.body.auto_switched, d2.body.auto_switched].filter(Boolean).length, 1);
    }
    const switches = await db.db
      .selectFrom('audit_events')
      .select(['owner_id'])
      .where('action', '=', 'mode.auto_switched')
      .where('owner_id', 'in', users.map((u) => u.id))
      .execute();
    assert.equal(switches.length, ROUNDS, 'one auto switch per owner in the audit trail');
  });

  it('across everything written so far: no owner is in byok mode without a provider key', async () => {
    const { db } = cl.get();
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from byok_settings s
      where s.mode = 'byok'
        and not exists (select 1 from provider_keys k where k.owner_type = s.owner_type and k.owner_id = s.owner_id)`.execute(db.db);
    assert.equal(Number(rows[0]!.n), 0);
  });

  it('one team per user: two creates, two accepts, and create vs accept on both instances at once', async () => {
    const { a, b, fx, db } = cl.get();
    const inviteTo = async (server: ServerProcess, email: string): Promise<string> => {
      const owner = await createUser(fx, uniqueEmail('team-owner'));
      const created = await call(server, 'POST', '/api/v1/teams', owner.headers, { name: `T ${owner.email.slice(0, 20)}` });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const inv = await call(server, 'POST', '/api/v1/teams/members/invite', owner.headers, { email });
      assert.equal(inv.status, 201, JSON.stringify(inv.body));
      return inv.body.invite_token as string;
    };
    const rounds = await Promise.all(
      Array.from({ length: ROUNDS }, async (_, i) => {
        const x = await createUser(fx, uniqueEmail('team-race'));
        const kind = i % 3;
        let pair: [Promise<Res>, Promise<Res>];
        if (kind === 0) {
          pair = [call(a, 'POST', '/api/v1/teams', x.headers, { name: 'mine A' }), call(b, 'POST', '/api/v1/teams', x.headers, { name: 'mine B' })];
        } else if (kind === 1) {
          const [t1, t2] = await Promise.all([inviteTo(a, x.email), inviteTo(b, x.email)]);
          pair = [
            call(a, 'POST', '/api/v1/teams/invitations/accept', x.headers, { invite_token: t1 }),
            call(b, 'POST', '/api/v1/teams/invitations/accept', x.headers, { invite_token: t2 }),
          ];
        } else {
          const t = await inviteTo(a, x.email);
          pair = [call(a, 'POST', '/api/v1/teams', x.headers, { name: 'mine' }), call(b, 'POST', '/api/v1/teams/invitations/accept', x.headers, { invite_token: t })];
        }
        return { x, res: await Promise.all(pair) };
      }),
    );
    for (const { x, res } of rounds) {
      const ok = res.filter((r) => r.status === 200 || r.status === 201);
      const conflicts = res.filter((r) => r.status === 409);
      assert.equal(ok.length, 1, `exactly one wins for ${x.email}: ${JSON.stringify(res)}`);
      assert.equal(conflicts.length, 1);
      assert.equal(conflicts[0]!.body.code, 'already_exists');
      const active = await db.db
        .selectFrom('team_members')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('user_id', '=', x.id)
        .where('status', '=', 'active')
        .executeTakeFirstOrThrow();
      assert.equal(Number(active.n), 1, `${x.email} is in exactly one team`);
    }
    // A losing create left no team behind: every team has an active admin.
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from teams t
      where not exists (select 1 from team_members m where m.team_id = t.id and m.status = 'active' and m.role = 'admin')`.execute(db.db);
    assert.equal(Number(rows[0]!.n), 0);
  });

  it('one API key per user: two creates on both instances at once', async () => {
    const { a, b, fx, db } = cl.get();
    const users = await Promise.all(Array.from({ length: ROUNDS }, () => createUser(fx, uniqueEmail('apikey-race'))));
    const results = await Promise.all(
      users.map((u) => Promise.all([call(a, 'POST', '/api/v1/user/apikey', u.headers), call(b, 'POST', '/api/v1/user/apikey', u.headers)])),
    );
    for (const [i, [r1, r2]] of results.entries()) {
      assert.deepEqual([r1.status, r2.status].sort(), [201, 409]);
      const won = r1.status === 201 ? r1 : r2;
      const rows = await db.db.selectFrom('api_keys').select('key_last4').where('user_id', '=', users[i]!.id).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.key_last4, String(won.body.key).slice(-4), 'the stored key is the one handed out');
      // The key that was handed out works on both instances.
      for (const s of [a, b]) assert.equal((await call(s, 'GET', '/api/v1/user/apikey', { 'x-api-key': String(won.body.key) })).status, 200);
    }
  });
});

const buses: { name: string; env: () => Record<string, string>; skip: string | false }[] = [
  { name: 'PostgreSQL LISTEN/NOTIFY', env: () => ({}), skip },
  {
    name: 'Redis pub/sub',
    env: () => ({ NEO_REDIS_URL: redisTestUrl()! }),
    skip: skip || (redisTestUrl() ? false : 'NEO_TEST_REDIS_URL is not set'),
  },
];

for (const bus of buses) {
  describe(`two instances: caches coherent within ${COHERENCE_MS} ms over ${bus.name}`, { skip: bus.skip, timeout: 300_000 }, () => {
    const cl = cluster(bus.env);

    it('a rotated, then deleted, API key stops working on the other instance', async () => {
      const { a, b, fx } = cl.get();
      const u = await createUser(fx, uniqueEmail('coherent-key'));
      const created = await call(a, 'POST', '/api/v1/user/apikey', u.headers);
      assert.equal(created.status, 201);
      const k1 = String(created.body.key);
      // B authenticates k1 and caches the lookup.
      assert.equal((await call(b, 'GET', '/api/v1/user/apikey', { 'x-api-key': k1 })).status, 200);
      assert.equal((await call(b, 'GET', '/api/v1/user/apikey', { 'x-api-key': k1 })).status, 200);

      const rotated = await call(a, 'POST', '/api/v1/user/apikey/rotate', u.headers);
      assert.equal(rotated.status, 200);
      const k2 = String(rotated.body.key);
      const dead = await secondsUntil(async () => (await call(b, 'GET', '/api/v1/user/apikey', { 'x-api-key': k1 })).status === 401, COHERENCE_MS);
      assert.ok(dead >= 0 && dead <= COHERENCE_MS, `the rotated-away key died on the other instance after ${dead} ms`);
      assert.equal((await call(b, 'GET', '/api/v1/user/apikey', { 'x-api-key': k2 })).status, 200, 'the new key works there');

      assert.equal((await call(a, 'DELETE', '/api/v1/user/apikey', u.headers)).status, 200);
      const gone = await secondsUntil(async () => (await call(b, 'GET', '/api/v1/user/apikey', { 'x-api-key': k2 })).status === 401, COHERENCE_MS);
      assert.ok(gone >= 0 && gone <= COHERENCE_MS, `the deleted key died on the other instance after ${gone} ms`);
    });

    it("a mode change and a replaced provider key reach the other instance's resolve", async () => {
      const { a, b, byokUser, saveKey } = cl.get();
      const u = await byokUser('coherent-resolve');
      const first = await saveKey(a, u, 'openai');
      assert.equal((await call(a, 'PATCH', '/api/v1/byok/mode', u.headers, { mode: 'byok' })).status, 200);
      const internal = { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` };
      const resolveOnB = () => call(b, 'POST', '/internal/v1/credentials/resolve', internal, { user_id: u.id, model: 'gpt-5' });
      // Warm B's caches (membership, flag, mode and keys, data key).
      let r = await resolveOnB();
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.mode, 'byok');
      assert.equal((r.body.credential as { api_key: string }).api_key, first);
      r = await resolveOnB();
      assert.equal((r.body.credential as { api_key: string }).api_key, first);

      // A new secret for the same provider, saved on A.
      const second = await saveKey(a, u, 'openai');
      const replaced = await secondsUntil(async () => {
        const x = await resolveOnB();
        return (x.body.credential as { api_key?: string } | null)?.api_key === second;
      }, COHERENCE_MS);
      assert.ok(replaced >= 0 && replaced <= COHERENCE_MS, `the replaced key reached the other instance after ${replaced} ms`);

      assert.equal((await call(a, 'PATCH', '/api/v1/byok/mode', u.headers, { mode: 'neo' })).status, 200);
      const switched = await secondsUntil(async () => {
        const x = await resolveOnB();
        return x.status === 200 && x.body.mode === 'neo' && x.body.credential === null;
      }, COHERENCE_MS);
      assert.ok(switched >= 0 && switched <= COHERENCE_MS, `the mode change reached the other instance after ${switched} ms`);
    });
  });
}
