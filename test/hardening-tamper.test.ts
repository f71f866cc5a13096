/**
 * Tamper and integrity: a provider-key ciphertext changed in the database, moved to
 * another owner or to another provider, or a data key altered, never yields a wrong
 * plaintext. Resolution answers a generic 500 ErrorResponse whose error_id matches a
 * log event naming owner and provider (never the secret); the listing marks the key
 * `status: "unreadable"` (instead of its health status) so an admin can replace it, after which it works again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seal, unwrapDataKey } from '../src/crypto/envelope.ts';
import { rotateMasterKey } from '../src/crypto/rotate.ts';
import type { ProviderName } from '../src/providers/types.ts';
import { createTestContext, TEST_INTERNAL_TOKEN, TEST_MASTER_KEY, testDialects, type TestContext } from './helpers/context.ts';
import { createUser, setByok, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { acceptedCredential, saveKey, setMode, startProviderFakes, type ProviderFakes } from './helpers/model-fixtures.ts';

const MODEL_OF: Partial<Record<ProviderName, string>> = { openai: 'gpt-5', anthropic: 'claude-sonnet-4-5', 'azure-foundry': 'gpt-4-1', 'amazon-bedrock': 'claude-sonnet-4-5' };

interface Owned {
  user: TestUser;
  secrets: Map<ProviderName, string>;
}

for (const dialect of testDialects()) {
  describe(`tamper and integrity [${dialect}]`, () => {
    let ctx: TestContext;
    let fakes: ProviderFakes;
    const allSecrets: string[] = [];
    before(async () => {
      fakes = await startProviderFakes();
      ctx = await createTestContext({ dialect, env: fakes.env });
    });
    after(async () => {
      await ctx.close();
      await fakes.close();
    });

    async function ownerWith(providers: ProviderName[]): Promise<Owned> {
      const user = await createUser(ctx, uniqueEmail('tamper'));
      await setByok(ctx, user.owner);
      const secrets = new Map<ProviderName, string>();
      for (const p of providers) {
        const cred = acceptedCredential(fakes, p);
        await saveKey(ctx, user, p, cred);
        secrets.set(p, cred.api_key);
        allSecrets.push(cred.api_key);
      }
      await setMode(ctx, user, 'byok');
      return { user, secrets };
    }

    const resolve = (user: TestUser, model: string) =>
      ctx.app.inject({
        method: 'POST',
        url: '/internal/v1/credentials/resolve',
        headers: { authorization: `Bearer ${TEST_INTERNAL_TOKEN}` },
        payload: { user_id: user.id, model },
      });

    const ciphertextOf = async (o: Owned, provider: ProviderName) =>
      (
        await ctx.database.db
          .selectFrom('provider_keys')
          .select('ciphertext')
          .where('owner_type', '=', o.user.owner.type)
          .where('owner_id', '=', o.user.owner.id)
          .where('provider', '=', provider)
          .executeTakeFirstOrThrow()
      ).ciphertext;

    const setCiphertext = async (o: Owned, provider: ProviderName, ciphertext: string) => {
      await ctx.database.db
        .updateTable('provider_keys')
        .set({ ciphertext })
        .where('owner_type', '=', o.user.owner.type)
        .where('owner_id', '=', o.user.owner.id)
        .where('provider', '=', provider)
        .execute();
      // What a cache expiry or a restart would do: the server reads the row again.
      forget(o);
    };

    const forget = (o: Owned) => {
      const key = `${o.user.owner.type}:${o.user.owner.id}`;
      ctx.app.services.bus.publish('owner', key);
      ctx.app.services.vault.clearCache();
    };

    async function listing(o: Owned): Promise<Map<string, { status?: string }>> {
      const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: o.user.headers });
      assert.equal(res.statusCode, 200, res.body);
      for (const s of allSecrets) assert.ok(!res.body.includes(s), 'no secret in the listing');
      return new Map((res.json().provider_keys as { provider: string; status?: string }[]).map((k) => [k.provider, k]));
    }

    /** The resolve call fails safely: generic 500, and a log event with the same error_id naming owner and provider. */
    async function assertUnreadable(o: Owned, provider: ProviderName): Promise<void> {
      const res = await resolve(o.user, MODEL_OF[provider]!);
      assert.equal(res.statusCode, 500, res.body);
      const body = res.json();
      assert.equal(body.code, 'internal');
      assert.equal(body.kind, 'internal error');
      assert.equal(body.error_id, res.headers['x-request-id']);
      assert.doesNotMatch(res.body, /decrypt|cipher|GCM|auth tag/i, 'the cause is not echoed');
      for (const s of allSecrets) assert.ok(!res.body.includes(s));
      const events = ctx.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.error_id === body.error_id && e.event === 'provider_key.unreadable');
      assert.equal(events.length, 1, `one unreadable-key event for error_id ${body.error_id}`);
      assert.equal(events[0]!.owner_id, o.user.owner.id);
      assert.equal(events[0]!.owner_type, o.user.owner.type);
      assert.equal(events[0]!.provider, provider);
      const list = await listing(o);
      assert.equal(list.get(provider)?.status, 'unreadable');
    }

    it('baseline: an untouched key resolves to its own secret and lists as active (not unreadable)', async () => {
      const o = await ownerWith(['openai']);
      const res = await resolve(o.user, 'gpt-5');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().credential.api_key, o.secrets.get('openai'));
      assert.equal((await listing(o)).get('openai')?.status, 'active');
    });

    it('a ciphertext with one altered byte → 500 + unreadable, never a wrong plaintext; replacing the key heals it', async () => {
      const o = await ownerWith(['openai', 'anthropic']);
      const ct = await ciphertextOf(o, 'openai');
      const parts = ct.split('.');
      const sealed = Buffer.from(parts[2]!, 'base64url');
      sealed[sealed.length - 20]! ^= 0x01;
      await setCiphertext(o, 'openai', `${parts[0]}.${parts[1]}.${sealed.toString('base64url')}`);
      await assertUnreadable(o, 'openai');
      // The other key of the owner is unaffected.
      assert.equal((await listing(o)).get('anthropic')?.status, 'active');
      assert.equal((await resolve(o.user, 'claude-sonnet-4-5')).json().credential.api_key, o.secrets.get('anthropic'));
      // The admin replaces it.
      const fresh = acceptedCredential(fakes, 'openai');
      allSecrets.push(fresh.api_key);
      await saveKey(ctx, o.user, 'openai', fresh);
      assert.equal((await listing(o)).get('openai')?.status, 'active');
      assert.equal((await resolve(o.user, 'gpt-5')).json().credential.api_key, fresh.api_key);
    });

    it("another owner's ciphertext moved into this owner's row → unreadable, not the other owner's secret", async () => {
      const a = await ownerWith(['openai']);
      const b = await ownerWith(['openai']);
      await setCiphertext(b, 'openai', await ciphertextOf(a, 'openai'));
      await assertUnreadable(b, 'openai');
      // The victim's own key still works.
      assert.equal((await resolve(a.user, 'gpt-5')).json().credential.api_key, a.secrets.get('openai'));
    });

    it("the owner's key for one provider moved to another provider's row → unreadable", async () => {
      const o = await ownerWith(['openai', 'anthropic']);
      await setCiphertext(o, 'anthropic', await ciphertextOf(o, 'openai'));
      await assertUnreadable(o, 'anthropic');
      assert.equal((await resolve(o.user, 'gpt-5')).json().credential.api_key, o.secrets.get('openai'));
    });

    it('an altered wrapped data key makes every key of that owner unreadable (and only that owner)', async () => {
      const o = await ownerWith(['openai', 'anthropic']);
      const other = await ownerWith(['openai']);
      const dk = await ctx.database.db
        .selectFrom('data_keys')
        .select(['id', 'wrapped_key'])
        .where('owner_type', '=', o.user.owner.type)
        .where('owner_id', '=', o.user.owner.id)
        .executeTakeFirstOrThrow();
      const wrapped = Buffer.from(dk.wrapped_key, 'base64');
      wrapped[14]! ^= 0x80;
      await ctx.database.db.updateTable('data_keys').set({ wrapped_key: wrapped.toString('base64') }).where('id', '=', dk.id).execute();
      forget(o);
      await assertUnreadable(o, 'openai');
      await assertUnreadable(o, 'anthropic');
      assert.equal((await resolve(other.user, 'gpt-5')).json().credential.api_key, other.secrets.get('openai'));
    });

    it("a data key and a ciphertext both moved to another owner → unreadable for both, never the victim's secret", async () => {
      const a = await ownerWith(['openai']);
      const b = await ownerWith(['openai']);
      const aKey = await ctx.database.db
        .selectFrom('data_keys')
        .select('id')
        .where('owner_type', '=', a.user.owner.type)
        .where('owner_id', '=', a.user.owner.id)
        .executeTakeFirstOrThrow();
      // The attacker re-labels a's data key as b's (a new version) and copies a's ciphertext into b's row.
      await ctx.database.db
        .updateTable('data_keys')
        .set({ owner_type: b.user.owner.type, owner_id: b.user.owner.id, version: 2 })
        .where('id', '=', aKey.id)
        .execute();
      await setCiphertext(b, 'openai', await ciphertextOf(a, 'openai'));
      forget(a);
      await assertUnreadable(b, 'openai');
      await assertUnreadable(a, 'openai');
    });

    const setLocation = async (o: Owned, provider: ProviderName, location: string | null) => {
      await ctx.database.db
        .updateTable('provider_keys')
        .set({ location })
        .where('owner_type', '=', o.user.owner.type)
        .where('owner_id', '=', o.user.owner.id)
        .where('provider', '=', provider)
        .execute();
      forget(o);
    };

    it("the Azure endpoint is sealed with the key: an SQL UPDATE of location never sends the key to the attacker's endpoint", async () => {
      const o = await ownerWith(['azure-foundry']);
      const res = await resolve(o.user, 'gpt-4-1');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().credential.location, fakes.azure.url);
      // A valid Azure host form (passes the host rules: only the binding catches it), and
      // an endpoint that the host rules refuse.
      for (const attacker of ['https://attacker.openai.azure.com', 'https://attacker.example.com', 'http://127.0.0.1:1']) {
        await setLocation(o, 'azure-foundry', attacker);
        const r = await resolve(o.user, 'gpt-4-1');
        assert.ok(!r.body.includes(o.secrets.get('azure-foundry')!), `the key was returned with ${attacker}`);
        await assertUnreadable(o, 'azure-foundry');
      }
      // Putting the original endpoint back makes it readable again (nothing else changed).
      await setLocation(o, 'azure-foundry', fakes.azure.url);
      assert.equal((await resolve(o.user, 'gpt-4-1')).json().credential.api_key, o.secrets.get('azure-foundry'));
    });

    it('a region changed in the database (Bedrock) is unreadable too', async () => {
      const o = await ownerWith(['amazon-bedrock']);
      assert.equal((await resolve(o.user, 'claude-sonnet-4-5')).statusCode, 200);
      const row = await ctx.database.db.selectFrom('provider_keys').select('location').where('owner_id', '=', o.user.owner.id).executeTakeFirstOrThrow();
      await setLocation(o, 'amazon-bedrock', row.location === 'eu-west-1' ? 'us-east-1' : 'eu-west-1');
      await assertUnreadable(o, 'amazon-bedrock');
    });

    /** Rewrites the owner's row as the previous format (v1: location not bound), as older servers wrote it. */
    async function downgradeToV1(o: Owned, provider: ProviderName): Promise<void> {
      const row = await ctx.database.db
        .selectFrom('provider_keys')
        .innerJoin('data_keys', 'data_keys.id', 'provider_keys.data_key_id')
        .select(['data_keys.id as dkid', 'data_keys.wrapped_key'])
        .where('provider_keys.owner_id', '=', o.user.owner.id)
        .where('provider_keys.provider', '=', provider)
        .executeTakeFirstOrThrow();
      const { type, id } = o.user.owner;
      const dataKey = unwrapDataKey(Buffer.from(TEST_MASTER_KEY, 'base64'), row.wrapped_key, { ownerType: type, ownerId: id, dataKeyId: row.dkid });
      const aad = Buffer.from(['neo-byok/provider-key/v1', type, id, provider, row.dkid].join('\0'), 'utf8');
      const sealed = seal(dataKey, Buffer.from(o.secrets.get(provider)!, 'utf8'), aad);
      await setCiphertext(o, provider, `v1.${row.dkid}.${sealed.toString('base64url')}`);
    }

    it('old-format rows (location not bound) stay readable, and are rewritten on their next save and by the rotation rewrap', async () => {
      const o = await ownerWith(['azure-foundry']);
      await downgradeToV1(o, 'azure-foundry');
      assert.match(await ciphertextOf(o, 'azure-foundry'), /^v1\./);
      const r = await resolve(o.user, 'gpt-4-1');
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().credential.api_key, o.secrets.get('azure-foundry'));
      assert.equal((await listing(o)).get('azure-foundry')?.status, 'active');
      // The next save rewrites it in the current format.
      const fresh = acceptedCredential(fakes, 'azure-foundry');
      allSecrets.push(fresh.api_key);
      await saveKey(ctx, o.user, 'azure-foundry', fresh);
      o.secrets.set('azure-foundry', fresh.api_key);
      assert.match(await ciphertextOf(o, 'azure-foundry'), /^v2\./);
      // The rotation command's rewrap pass upgrades the rest (here with the same master key).
      await downgradeToV1(o, 'azure-foundry');
      const other = await ownerWith(['openai']);
      await downgradeToV1(other, 'openai');
      const key = Buffer.from(TEST_MASTER_KEY, 'base64');
      const result = await rotateMasterKey({ db: ctx.database.db, newKey: key, oldKeys: [key], azureAllowedHosts: ctx.config.azureAllowedHosts });
      assert.deepEqual(result.ciphertexts_failed, []);
      assert.equal(result.complete, true, JSON.stringify(result));
      assert.ok(result.ciphertexts_upgraded >= 2, JSON.stringify(result));
      assert.match(await ciphertextOf(o, 'azure-foundry'), /^v2\./);
      assert.match(await ciphertextOf(other, 'openai'), /^v2\./);
      forget(o);
      forget(other);
      assert.equal((await resolve(o.user, 'gpt-4-1')).json().credential.api_key, fresh.api_key);
      assert.equal((await resolve(other.user, 'gpt-5')).json().credential.api_key, other.secrets.get('openai'));
      // Once upgraded, the location is bound.
      await setLocation(o, 'azure-foundry', 'https://attacker.openai.azure.com');
      await assertUnreadable(o, 'azure-foundry');
    });

    it('the rotation rewrap refuses an old-format Azure row whose endpoint fails the host rules (it stays unreadable at resolve)', async () => {
      const o = await ownerWith(['azure-foundry']);
      await downgradeToV1(o, 'azure-foundry');
      await setLocation(o, 'azure-foundry', 'https://attacker.example.com');
      await assertUnreadable(o, 'azure-foundry');
      const key = Buffer.from(TEST_MASTER_KEY, 'base64');
      const result = await rotateMasterKey({ db: ctx.database.db, newKey: key, oldKeys: [key], azureAllowedHosts: ctx.config.azureAllowedHosts });
      assert.equal(result.ciphertexts_failed.length, 1, JSON.stringify(result));
      assert.equal(result.ciphertexts_failed[0]!.owner_id, o.user.owner.id);
      assert.match(result.ciphertexts_failed[0]!.reason, /Azure host rules/);
      assert.match(await ciphertextOf(o, 'azure-foundry'), /^v1\./, 'left as it is');
      await assertUnreadable(o, 'azure-foundry');
    });

    it('no log line ever contains a secret', () => {
      const all = ctx.logs.join('\n');
      for (const s of allSecrets) assert.ok(!all.includes(s));
    });
  });
}
