/**
 * The flags cache never keeps a read that raced a change: a flag read that started
 * before an invalidation (a slow database, a flag turned on by another instance
 * meanwhile) answers its own caller but is not cached, so the next read sees the change.
 * Before, the slow read put the old value back after the invalidation, and an instance
 * kept saying BYOK was off for the cache's TTL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';
import { createTestContext, testDialects, type TestContext } from '../../../test/helpers/context.ts';
import { createUser } from '../../../test/helpers/fixtures.ts';
import { nowIso, openDatabase, type DatabaseHandle } from '../../db/index.ts';
import { LocalBus } from '../../lib/bus.ts';
import type { Owner } from '../auth/owner.ts';
import { FeaturesService } from './features.service.ts';

/** Holds every query result until `release()`: a database that answers slowly. */
class Gate implements KyselyPlugin {
  private waiting: (() => void)[] = [];
  held = 0;
  /** Once opened, results pass at once. */
  open = false;
  /** Query results seen, held or not. */
  results = 0;
  transformQuery(args: PluginTransformQueryArgs) {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs) {
    this.results++;
    if (this.open) return args.result;
    this.held++;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return args.result;
  }
  release(open = false): void {
    this.open = open;
    for (const w of this.waiting.splice(0)) w();
  }
}

for (const dialect of testDialects()) {
  describe(`FeaturesService cache [${dialect}]`, () => {
    let ctx: TestContext;
    /** A second connection for the writes: the held read keeps its own (SQLite has one per handle). */
    let writer: DatabaseHandle;
    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
      writer = await openDatabase(ctx.config.databaseUrl, { migrate: false, poolSize: 1 });
    });
    after(async () => {
      await writer.close();
      await ctx.close();
    });

    const setFlag = (owner: Owner, on: boolean) =>
      writer.db
        .insertInto('features')
        .values({ owner_type: owner.type, owner_id: owner.id, name: 'byok', enabled: on ? 1 : 0, updated_at: nowIso() })
        .onConflict((oc) => oc.columns(['owner_type', 'owner_id', 'name']).doUpdateSet({ enabled: on ? 1 : 0 }))
        .execute();

    it('a slow flag read that raced an invalidation is not cached', async () => {
      const owner = (await createUser(ctx)).owner;
      const gate = new Gate();
      const bus = new LocalBus();
      const features = new FeaturesService({ db: ctx.database.db.withPlugin(gate), dialect: ctx.database.dialect, bus, defaults: { byok: false } });
      // The read has run (flag off) but its answer is held back.
      const slow = features.isEnabled(owner, 'byok');
      while (gate.held === 0) await new Promise((r) => setImmediate(r));
      // Meanwhile the flag is turned on and the change announced (another instance, the CLI).
      await setFlag(owner, true);
      bus.publish('flags', `${owner.type}:${owner.id}`);
      gate.release(true);
      assert.equal(await slow, false, 'the read that started before the change answers what it read');
      assert.equal(await features.isEnabled(owner, 'byok'), true, 'the next read sees the change: the raced read was not cached');
    });

    it('concurrent reads of one owner share one database read', async () => {
      const owner = (await createUser(ctx)).owner;
      await setFlag(owner, true);
      const gate = new Gate();
      const features = new FeaturesService({ db: ctx.database.db.withPlugin(gate), dialect: ctx.database.dialect, bus: new LocalBus(), defaults: { byok: false } });
      const reads = Array.from({ length: 5 }, () => features.isEnabled(owner, 'byok'));
      while (gate.held === 0) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 20));
      gate.release(true);
      assert.deepEqual(await Promise.all(reads), [true, true, true, true, true]);
      assert.equal(gate.results, 1);
    });
  });
}
