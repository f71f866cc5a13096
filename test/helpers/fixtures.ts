/**
 * Fixtures that write straight to the database (fast, and independent of the endpoints
 * under test): users, teams with members, feature flags, API keys.
 */
import { randomBytes } from 'node:crypto';
import { nowIso } from '../../src/db/index.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import type { TeamRole } from '../../src/db/schema.ts';
import { sha256Hex } from '../../src/lib/hash.ts';
import { generateApiKey } from '../../src/modules/apikeys/apikeys.service.ts';
import type { Owner } from '../../src/modules/auth/owner.ts';
import { signTestJwt, type TestContext } from './context.ts';

export interface TestUser {
  id: string;
  email: string;
  sub: string;
  /** `{ authorization: 'Bearer <jwt>' }` */
  headers: { authorization: string };
  owner: Owner;
}

let seq = 0;
/** A unique email for this test process. */
export function uniqueEmail(prefix = 'user'): string {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}-${randomBytes(3).toString('hex')}@example.com`;
}

export async function createUser(ctx: TestContext, email = uniqueEmail(), opts: { role?: 'user' | 'admin' } = {}): Promise<TestUser> {
  const id = uuidv7();
  const sub = `sub|${email}`;
  const now = nowIso();
  await ctx.database.db
    .insertInto('users')
    .values({ id, sub, email, role: opts.role ?? 'user', tag: null, created_at: now, updated_at: now })
    .execute();
  const token = await signTestJwt(email, { sub });
  return { id, email, sub, headers: { authorization: `Bearer ${token}` }, owner: { type: 'user', id } };
}

export interface TestTeam {
  id: string;
  name: string;
  owner: Owner;
}

/** A team with active members; the first admin is the creator. */
export async function createTeam(
  ctx: TestContext,
  members: { user: TestUser; role: TeamRole }[],
  name = 'Team ' + randomBytes(3).toString('hex'),
): Promise<TestTeam> {
  const id = uuidv7();
  const now = nowIso();
  await ctx.database.db.insertInto('teams').values({ id, name, created_at: now, updated_at: now }).execute();
  for (const m of members) {
    await ctx.database.db
      .insertInto('team_members')
      .values({
        id: uuidv7(),
        team_id: id,
        user_id: m.user.id,
        email: m.user.email,
        role: m.role,
        status: 'active',
        invited_by: null,
        invited_at: now,
        accepted_at: now,
        invite_token_hash: null,
        invite_expires_at: null,
      })
      .execute();
    m.user.owner = { type: 'team', id };
    ctx.app.services.auth.invalidateUser(m.user.id);
  }
  return { id, name, owner: { type: 'team', id } };
}

/** Turns the `byok` feature flag on (or off) for an owner. */
export async function setByok(ctx: TestContext, owner: Owner, enabled = true): Promise<void> {
  await ctx.app.services.features.set(owner, 'byok', enabled);
}

/** Gives a user a Neo API key (written directly; returns the full key). */
export async function createApiKey(ctx: TestContext, user: TestUser): Promise<string> {
  const key = generateApiKey();
  const now = nowIso();
  await ctx.database.db
    .insertInto('api_keys')
    .values({ id: uuidv7(), user_id: user.id, key_hash: sha256Hex(key), key_last4: key.slice(-4), created_at: now, updated_at: now })
    .execute();
  return key;
}
