import type { Db } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import type { SystemRole, UserRow } from '../../db/schema.ts';

export class UsersRepo {
  constructor(private readonly db: Db) {}

  findById(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findBySub(sub: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('sub', '=', sub).executeTakeFirst();
  }

  findByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  async create(input: { email: string; sub: string | null; role: SystemRole }, now: string): Promise<UserRow> {
    const row: UserRow = {
      id: uuidv7(),
      sub: input.sub,
      email: input.email,
      role: input.role,
      tag: null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('users').values(row).execute();
    return row;
  }

  /** Binds an identity-provider subject to a user that has none yet (pre-provisioned by the CLI). */
  async bindSub(id: string, sub: string, now: string): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set({ sub, updated_at: now })
      .where('id', '=', id)
      .where('sub', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setRole(id: string, role: SystemRole, now: string): Promise<void> {
    await this.db.updateTable('users').set({ role, updated_at: now }).where('id', '=', id).execute();
  }
}

/**
 * Emails are compared case-insensitively: stored trimmed, with ASCII A–Z folded to a–z
 * and nothing else. Unicode case mapping would fold look-alikes onto real addresses
 * (KELVIN SIGN U+212A lower-cases to `k`); EMAIL_RE refuses every non-ASCII address.
 */
export function normalizeEmail(email: string): string {
  return email.trim().replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/** A plain ASCII address (no internationalized local parts or domains: see normalizeEmail). */
export const EMAIL_RE = /^[!#-'*+\-./0-9=?A-Z^-~]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
