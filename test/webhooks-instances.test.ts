/**
 * Webhook delivery with two instances on one PostgreSQL database (docs/webhooks.md
 * "Delivery and retries"): two workers (two pools, as two processes would have) dispatch
 * the same outbox and send the same deliveries at once, to a real receiver on
 * 127.0.0.1. Each delivery is attempted by one instance at a time, none is lost, none is
 * sent twice; a delivery claimed by an instance that died mid-attempt is sent by the
 * other once the lease has expired.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { uuidv7 } from '../src/db/ids.ts';
import { openDatabase, withTransaction, type DatabaseHandle } from '../src/db/index.ts';
import { DELIVERY_LEASE_MS } from '../src/modules/webhooks/webhooks.events.ts';
import { WebhooksRepo } from '../src/modules/webhooks/webhooks.repo.ts';
import { WebhookWorker } from '../src/modules/webhooks/webhooks.worker.ts';
import { startReceiver, type LocalServer } from './fakes/webhook-servers.ts';
import { openTestDatabase, postgresTestUrl, type TestDatabase, type TestDialect } from './helpers/databases.ts';

const dialects: TestDialect[] = postgresTestUrl() ? ['postgres'] : [];
const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const OWNERS = 4;
const ENDPOINTS_PER_OWNER = 2;
const EVENTS_PER_OWNER = 15;

for (const dialect of dialects) {
  describe(`webhooks: delivery on two instances [${dialect}]`, () => {
    let dir: string;
    let t: TestDatabase;
    const handles: DatabaseHandle[] = [];
    let receiver: LocalServer;
    let nowMs = Date.now();
    /** Requests in flight and received, per (endpoint path, webhook-id). */
    const inFlight = new Map<string, number>();
    const received = new Map<string, number>();
    let overlaps = 0;

    const worker = (h: DatabaseHandle, name: string) =>
      new WebhookWorker({
        db: h.db,
        dialect: h.dialect,
        // The fake vault "decrypts" every stored secret to SECRET.
        vault: { decryptWebhookSecret: async () => SECRET },
        allowedHttpHosts: [receiver.hostPort],
        retryScheduleMs: [1000],
        clock: () => nowMs,
        instanceId: name,
        concurrency: 4,
      });

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'neo-wh-'));
      t = await openTestDatabase(dialect, dir);
      for (let i = 0; i < 2; i++) handles.push(await openDatabase(t.url, { poolSize: 4 }));
      receiver = await startReceiver((req, res) => {
        const k = `${req.url} ${req.headers['webhook-id']}`;
        try {
          new Webhook(SECRET).verify(req.body, req.headers);
        } catch {
          res.writeHead(400).end('bad signature');
          return;
        }
        if ((inFlight.get(k) ?? 0) > 0) overlaps++;
        inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
        // An answer takes a while: the two instances overlap.
        setTimeout(() => {
          inFlight.set(k, inFlight.get(k)! - 1);
          received.set(k, (received.get(k) ?? 0) + 1);
          res.writeHead(204).end();
        }, 10);
      });
      const db = handles[0]!.db;
      const now = new Date(nowMs).toISOString();
      for (let o = 0; o < OWNERS; o++) {
        const owner = uuidv7();
        for (let e = 0; e < ENDPOINTS_PER_OWNER; e++) {
          const id = uuidv7();
          await db
            .insertInto('webhook_endpoints')
            .values({
              id,
              owner_type: 'user',
              owner_id: owner,
              url: `${receiver.url}/ep/${id}`,
              description: null,
              events: JSON.stringify(['mode.changed']),
              enabled: 1,
              disabled_reason: null,
              secret_ciphertext: 'sealed',
              previous_secret_ciphertext: null,
              previous_secret_expires_at: null,
              failing_since: null,
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
        for (let e = 0; e < EVENTS_PER_OWNER; e++) {
          const id = uuidv7();
          const payload = JSON.stringify({ id, type: 'mode.changed', timestamp: now, resource_type: 'user', resource_id: owner, data: { from_mode: 'neo', to_mode: 'byok' } });
          await db
            .insertInto('outbox')
            .values({ id, owner_type: 'user', owner_id: owner, event_type: 'mode.changed', payload, created_at: now, dispatched_at: null, next_attempt_at: now, lease_owner: null, lease_until: null })
            .execute();
        }
      }
    });
    after(async () => {
      for (const h of handles) await h.close();
      await t?.drop();
      await receiver?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('both instances at once: every delivery sent once, by one instance at a time; none lost', async () => {
      const a = worker(handles[0]!, 'instance-a');
      const b = worker(handles[1]!, 'instance-b');
      // Both dispatch the outbox at once (SKIP LOCKED: disjoint events; the unique
      // (endpoint, event) key: no delivery twice), until it is empty.
      for (;;) {
        const [da, db] = await Promise.all([a.dispatch(), b.dispatch()]);
        if (da + db === 0) break;
      }
      // Then both send at once, 4 at a time each; each answer takes 10 ms, so their claims interleave.
      const [sentA, sentB] = await Promise.all([a.deliverDue(), b.deliverDue()]);
      const all = [...sentA, ...sentB];
      const expected = OWNERS * ENDPOINTS_PER_OWNER * EVENTS_PER_OWNER;
      assert.equal(all.length, expected, 'each delivery attempted once in all');
      assert.equal(new Set(all).size, expected);
      assert.ok(sentA.length > 0 && sentB.length > 0, `both instances delivered (a ${sentA.length}, b ${sentB.length})`);
      assert.equal(overlaps, 0, 'never two attempts of one delivery at once');
      assert.equal(received.size, expected, 'every (endpoint, event) received');
      assert.ok([...received.values()].every((n) => n === 1), 'none received twice');
      const rows = await handles[0]!.db.selectFrom('webhook_deliveries').select(['status', 'attempts', 'lease_owner']).execute();
      assert.equal(rows.length, expected);
      assert.ok(rows.every((r) => r.status === 'delivered' && Number(r.attempts) === 1 && r.lease_owner === null));
      const undispatched = await handles[0]!.db.selectFrom('outbox').select('id').where('dispatched_at', 'is', null).execute();
      assert.deepEqual(undispatched, []);
    });

    it('a delivery claimed by an instance that died is sent by the other once the lease expires', async () => {
      const db = handles[0]!.db;
      const ep = await db.selectFrom('webhook_endpoints').select(['id', 'owner_id']).executeTakeFirstOrThrow();
      const eventId = uuidv7();
      const now = new Date(nowMs).toISOString();
      const payload = JSON.stringify({ id: eventId, type: 'ping', timestamp: now, resource_type: 'user', resource_id: ep.owner_id, data: { webhook_id: ep.id } });
      await new WebhooksRepo(db, dialect).insertDeliveries([
        { id: uuidv7(), endpoint_id: ep.id, owner_type: 'user', owner_id: ep.owner_id, event_id: eventId, event_type: 'ping', payload, next_attempt_at: now, created_at: now },
      ]);
      // Instance A claims it, then dies before sending.
      const claimed = await withTransaction(db, (trx) => new WebhooksRepo(trx, dialect).claimDue(now, new Date(nowMs + DELIVERY_LEASE_MS).toISOString(), 'instance-dead', 10));
      assert.equal(claimed.length, 1);
      const b = worker(handles[1]!, 'instance-b');
      assert.deepEqual(await b.round(), [], 'not while the lease holds');
      nowMs += DELIVERY_LEASE_MS + 1;
      assert.equal((await b.round()).length, 1);
      assert.equal(received.get(`/ep/${ep.id} ${eventId}`), 1);
    });
  });
}
