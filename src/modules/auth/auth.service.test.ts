/**
 * AuthService's JWT `sub` cache: a `user` invalidation drops the user's sub mapping, and a sub whose
 * mapping changed is never served from a stale entry, also when the user's row was
 * evicted before the invalidation arrived.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestContext, signTestJwt, testDialects, type TestContext } from '../../../test/helpers/context.ts';
import { createUser, uniqueEmail, type TestUser } from '../../../test/helpers/fixtures.ts';
import { nowIso } from '../../db/index.ts';
import { LocalBus } from '../../lib/bus.ts';
import { AuthService } from './auth.service.ts';

for (const dialect of testDialects()) {
  describe(`AuthService sub cache [${dialect}]`, () => {
    let ctx: TestContext;
    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
    });
    after(async () => ctx.close());

    const service = (cacheSize?: number) => {
      const bus = new LocalBus();
      const auth = new AuthService({ db: ctx.database.db, dialect: ctx.database.dialect, jwt: ctx.config.jwt, bus, ...(cacheSize ? { cacheSize } : {}) });
      return { auth, bus };
    };

    /** Moves identity `sub` from its user to `to` in the database (an operator re-binding an identity). */
    async function rebind(sub: string, to: TestUser): Promise<void> {
      await ctx.database.db.updateTable('users').set({ sub: null, updated_at: nowIso() }).where('sub', '=', sub).execute();
      await ctx.database.db.updateTable('users').set({ sub, updated_at: nowIso() }).where('id', '=', to.id).execute();
    }

    it('after a user invalidation the sub maps to its current user', async () => {
      const { auth, bus } = service();
      const a = await createUser(ctx);
      const b = await createUser(ctx, uniqueEmail('rebound'));
      const token = await signTestJwt(a.email, { sub: a.sub });
      assert.equal((await auth.authenticateJwt(token)).user.id, a.id);
      await rebind(a.sub, b);
      // Within the TTL and without an invalidation the cached mapping is still used …
      assert.equal((await auth.authenticateJwt(token)).user.id, a.id);
      // … the invalidation of the old user drops it at once.
      bus.publish('user', a.id);
      const p = await auth.authenticateJwt(token);
      assert.equal(p.user.id, b.id);
      assert.equal(p.user.sub, a.sub);
    });

    it('a stale sub entry whose user row was evicted is not trusted', async () => {
      // Two entries per cache: authenticating A, then loading two other users, evicts
      // A's row while its sub entry stays.
      const { auth, bus } = service(2);
      const a = await createUser(ctx);
      const b = await createUser(ctx, uniqueEmail('rebound'));
      const token = await signTestJwt(a.email, { sub: a.sub });
      assert.equal((await auth.authenticateJwt(token)).user.id, a.id);
      const [x, y] = await Promise.all([createUser(ctx), createUser(ctx)]);
      await auth.membershipOf(x.id);
      await auth.membershipOf(y.id);
      await rebind(a.sub, b);
      bus.publish('user', a.id);
      assert.equal((await auth.authenticateJwt(token)).user.id, b.id);
    });

    it('a pre-provisioned user seen first by API key, then bound by a JWT, is dropped by one invalidation', async () => {
      const { auth, bus } = service();
      const email = uniqueEmail('preprov');
      const now = nowIso();
      const user = await createUser(ctx, email);
      await ctx.database.db.updateTable('users').set({ sub: null, updated_at: now }).where('id', '=', user.id).execute();
      // Cached without a sub (what an API key request would leave behind).
      assert.equal((await auth.membershipOf(user.id))?.user.sub, null);
      const sub = `idp|${user.id}`;
      const token = await signTestJwt(email, { sub, claims: { email_verified: true } });
      const p = await auth.authenticateJwt(token);
      assert.equal(p.user.id, user.id);
      assert.equal(p.user.sub, sub, 'the principal carries the bound sub, not the cached row without one');
      const other = await createUser(ctx, uniqueEmail('rebound'));
      await rebind(sub, other);
      bus.publish('user', user.id);
      assert.equal((await auth.authenticateJwt(token)).user.id, other.id);
    });
  });
}
