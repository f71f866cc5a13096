/**
 * BYOK fixtures that write straight to the database through the app's own vault, so a
 * test can give an owner keys without a provider check.
 */
import { nowIso, withTransaction } from '../../src/db/index.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import type { Owner } from '../../src/modules/auth/owner.ts';
import { ByokRepo } from '../../src/modules/byok/byok.repo.ts';
import { keyHint } from '../../src/providers/hint.ts';
import type { ProviderName } from '../../src/providers/types.ts';
import type { TestContext } from './context.ts';

/** Stores an (encrypted) key for `owner` directly; returns the row id. */
export async function insertKey(
  ctx: TestContext,
  owner: Owner,
  provider: ProviderName,
  opts: { secret?: string; models?: string[]; location?: string | null; validated?: boolean } = {},
): Promise<string> {
  const secret = opts.secret ?? `sk-test-${provider}-${uuidv7().replace(/-/g, '')}`;
  const id = uuidv7();
  const now = nowIso();
  await withTransaction(ctx.database.db, async (trx) => {
    await new ByokRepo(trx, ctx.database.dialect).lockOwner(owner, now);
    const { ciphertext, dataKeyId } = await ctx.app.services.vault.encryptFor(trx, owner, provider, secret, opts.location ?? null);
    await trx
      .insertInto('provider_keys')
      .values({
        id,
        owner_type: owner.type,
        owner_id: owner.id,
        provider,
        display_name: null,
        location: opts.location ?? null,
        key_hint: keyHint(secret),
        ciphertext,
        data_key_id: dataKeyId,
        is_validated: opts.validated === false ? 0 : 1,
        validated_at: opts.validated === false ? null : now,
        models: opts.models ? JSON.stringify(opts.models) : null,
        models_discovered_at: opts.models ? now : null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  });
  ctx.app.services.bus.publish('owner', `${owner.type}:${owner.id}`);
  return id;
}
