/**
 * The key vault on a real database: envelope encryption per owner, AAD binding,
 * tampering, the data key cache, and the master key check at startup.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../src/cli/serve.ts';
import { DecryptionError } from '../src/crypto/envelope.ts';
import { KeyVault, MasterKeyMismatchError } from '../src/crypto/vault.ts';
import { masterKeyId } from '../src/crypto/envelope.ts';
import { nowIso, withTransaction } from '../src/db/index.ts';
import { ByokRepo } from '../src/modules/byok/byok.repo.ts';
import { LocalBus } from '../src/lib/bus.ts';
import type { Owner } from '../src/modules/auth/owner.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { createTestContext, testDialects, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TEST_MASTER_KEY, type TestContext } from './helpers/context.ts';

for (const dialect of testDialects()) {
  describe(`key vault [${dialect}]`, () => {
    let ctx: TestContext;
    let vault: KeyVault;
    const alice: Owner = { type: 'user', id: '0199aaaa-0000-7000-8000-000000000001' };
    const bob: Owner = { type: 'user', id: '0199aaaa-0000-7000-8000-000000000002' };
    const team: Owner = { type: 'team', id: alice.id };

    before(async () => {
      ctx = await createTestContext({ dialect, captureLogs: false });
      vault = ctx.app.services.vault;
    });
    after(async () => ctx.close());

    const encrypt = (owner: Owner, provider: ProviderName, plaintext: string) =>
      withTransaction(ctx.database.db, async (trx) => {
        await new ByokRepo(trx, ctx.database.dialect).lockOwner(owner, nowIso());
        return vault.encryptFor(trx, owner, provider, plaintext, null);
      });

    it('round trip; one data key per owner, wrapped by the master key, its id in every ciphertext', async () => {
      const a = await encrypt(alice, 'openai', 'sk-alice-openai');
      const b = await encrypt(alice, 'anthropic', 'sk-alice-anthropic');
      assert.equal(a.dataKeyId, b.dataKeyId);
      assert.ok(a.ciphertext.startsWith(`v2.${a.dataKeyId}.`));
      assert.equal(await vault.decrypt(alice, 'openai', a.ciphertext, null), 'sk-alice-openai');
      vault.clearCache();
      assert.equal(await vault.decrypt(alice, 'anthropic', b.ciphertext, null), 'sk-alice-anthropic');
      const rows = await ctx.database.db.selectFrom('data_keys').selectAll().where('owner_id', '=', alice.id).where('owner_type', '=', 'user').execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.version, 1);
      assert.equal(rows[0]!.master_key_id, masterKeyId(Buffer.from(TEST_MASTER_KEY, 'base64')));
      assert.ok(!rows[0]!.wrapped_key.includes(Buffer.alloc(32, 7).toString('base64')));
      const c = await encrypt(bob, 'openai', 'sk-bob');
      assert.notEqual(c.dataKeyId, a.dataKeyId, 'another owner, another data key');
    });

    it('a tampered ciphertext never decrypts', async () => {
      const { ciphertext } = await encrypt(alice, 'openai', 'sk-tamper-me');
      const [v, id, body] = ciphertext.split('.') as [string, string, string];
      const raw = Buffer.from(body, 'base64url');
      raw[raw.length - 5] = raw[raw.length - 5]! ^ 0x80;
      await assert.rejects(vault.decrypt(alice, 'openai', `${v}.${id}.${raw.toString('base64url')}`, null), DecryptionError);
      await assert.rejects(vault.decrypt(alice, 'openai', 'v2.nope.AAAA', null), DecryptionError);
    });

    it('a ciphertext moved to another owner or provider fails to decrypt (AAD + scoped data keys)', async () => {
      const { ciphertext } = await encrypt(alice, 'openai', 'sk-alice-only');
      await assert.rejects(vault.decrypt(alice, 'anthropic', ciphertext, null), DecryptionError);
      await assert.rejects(vault.decrypt(bob, 'openai', ciphertext, null), DecryptionError);
      // Same id, other owner type: a team that happens to share the id.
      await assert.rejects(vault.decrypt(team, 'openai', ciphertext, null), DecryptionError);
      vault.clearCache();
      await assert.rejects(vault.decrypt(bob, 'openai', ciphertext, null), DecryptionError);
      // Even with bob's data key row rewritten to alice's wrapped key, the wrapping AAD refuses it.
      const bobCt = (await encrypt(bob, 'openai', 'sk-bob-2')).ciphertext;
      const aliceKey = await ctx.database.db.selectFrom('data_keys').select('wrapped_key').where('owner_id', '=', alice.id).where('owner_type', '=', 'user').executeTakeFirstOrThrow();
      await ctx.database.db.updateTable('data_keys').set({ wrapped_key: aliceKey.wrapped_key }).where('owner_id', '=', bob.id).execute();
      vault.clearCache();
      await assert.rejects(vault.decrypt(bob, 'openai', bobCt, null), DecryptionError);
    });

    it('a cached data key is dropped when the bus resets the caches (every (re)subscription)', async () => {
      const owner: Owner = { type: 'user', id: '0199aaaa-0000-7000-8000-0000000000c1' };
      const { ciphertext, dataKeyId } = await encrypt(owner, 'xai', 'sk-cached');
      assert.equal(await vault.decrypt(owner, 'xai', ciphertext, null), 'sk-cached');
      // Corrupt the stored wrapping: the cached key still decrypts until the cache is emptied.
      await ctx.database.db.updateTable('data_keys').set({ wrapped_key: randomBytes(60).toString('base64') }).where('id', '=', dataKeyId).execute();
      assert.equal(await vault.decrypt(owner, 'xai', ciphertext, null), 'sk-cached');
      ctx.app.services.bus.resetCaches();
      await assert.rejects(vault.decrypt(owner, 'xai', ciphertext, null), DecryptionError);
    });

    it('a data key is cached only once its transaction commits', async () => {
      const owner: Owner = { type: 'team', id: '0199aaaa-0000-7000-8000-0000000000c2' };
      let sealed: string | undefined;
      await assert.rejects(
        withTransaction(ctx.database.db, async (trx) => {
          await new ByokRepo(trx, ctx.database.dialect).lockOwner(owner, nowIso());
          sealed = (await vault.encryptFor(trx, owner, 'openai', 'sk-rolled-back', null)).ciphertext;
          throw new Error('roll back');
        }),
        /roll back/,
      );
      // The data key that sealed it was rolled back with it: nothing opens the ciphertext.
      await assert.rejects(vault.decrypt(owner, 'openai', sealed!, null), DecryptionError);
    });

    it('unwrapped data keys are zeroed when they leave the cache', async () => {
      const owner: Owner = { type: 'user', id: '0199aaaa-0000-7000-8000-0000000000c3' };
      const { ciphertext, dataKeyId } = await encrypt(owner, 'openai', 'sk-zeroed');
      assert.equal(await vault.decrypt(owner, 'openai', ciphertext, null), 'sk-zeroed');
      // The key material itself (a security property, so read where it lives).
      const cached = (vault as unknown as { cache: { peek(id: string): { key: Buffer } | undefined } }).cache.peek(dataKeyId);
      assert.ok(cached && cached.key.some((b) => b !== 0), 'the data key is cached');
      vault.clearCache();
      assert.ok(cached.key.every((b) => b === 0), 'its buffer was zeroed');
    });

    it('verifyMasterKey: the right key passes, a wrong one is a clear error, the previous one counts as a pending rotation', async () => {
      const right = Buffer.from(TEST_MASTER_KEY, 'base64');
      const wrong = randomBytes(32);
      assert.deepEqual(await KeyVault.verifyMasterKey(ctx.database.db, right), { masterKeyId: masterKeyId(right), rotationPending: false });
      await assert.rejects(KeyVault.verifyMasterKey(ctx.database.db, wrong), (err: Error) => {
        assert.ok(err instanceof MasterKeyMismatchError);
        assert.equal(err.message, 'NEO_MASTER_KEY does not match the key this database was encrypted with');
        return true;
      });
      const status = await KeyVault.verifyMasterKey(ctx.database.db, wrong, right);
      assert.equal(status.rotationPending, true);
      // A vault given both keys still opens data keys wrapped by the previous one.
      const rotating = new KeyVault({ db: ctx.database.db, masterKey: wrong, masterKeyPrevious: right, bus: new LocalBus() });
      const { ciphertext } = await encrypt(alice, 'google', 'sk-during-rotation');
      assert.equal(await rotating.decrypt(alice, 'google', ciphertext, null), 'sk-during-rotation');
      const stranger = new KeyVault({ db: ctx.database.db, masterKey: wrong, bus: new LocalBus() });
      await assert.rejects(stranger.decrypt(alice, 'google', ciphertext, null), DecryptionError);
    });
  });
}

describe('master key check at server start', () => {
  it('a server started with another master key on the same database refuses to start', async () => {
    const ctx = await createTestContext({ captureLogs: false });
    try {
      const env = {
        NEO_DATA_DIR: ctx.dataDir,
        NEO_DATABASE_URL: ctx.config.databaseUrl,
        NEO_JWT_SECRET: TEST_JWT_SECRET,
        NEO_INTERNAL_TOKEN: TEST_INTERNAL_TOKEN,
        NEO_LOG_LEVEL: 'silent',
        PORT: '0',
        HOST: '127.0.0.1',
      };
      await assert.rejects(startServer({ ...env, NEO_MASTER_KEY: randomBytes(32).toString('base64') }), /NEO_MASTER_KEY does not match the key this database was encrypted with/);
      const ok = await startServer({ ...env, NEO_MASTER_KEY: TEST_MASTER_KEY });
      await ok.stop();
    } finally {
      await ctx.close();
    }
  });

  it('a database with data keys but no check value still refuses a wrong key', async () => {
    const ctx = await createTestContext({ captureLogs: false });
    try {
      const owner: Owner = { type: 'user', id: '0199aaaa-0000-7000-8000-0000000000d1' };
      await withTransaction(ctx.database.db, async (trx) => {
        await new ByokRepo(trx, ctx.database.dialect).lockOwner(owner, nowIso());
        await ctx.app.services.vault.encryptFor(trx, owner, 'openai', 'sk-x', null);
      });
      await ctx.database.db.deleteFrom('meta').where('key', '=', 'crypto.master_key_check').execute();
      await assert.rejects(KeyVault.verifyMasterKey(ctx.database.db, randomBytes(32)), MasterKeyMismatchError);
      await KeyVault.verifyMasterKey(ctx.database.db, Buffer.from(TEST_MASTER_KEY, 'base64'));
    } finally {
      await ctx.close();
    }
  });
});
