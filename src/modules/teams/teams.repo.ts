/**
 * SQL of teams and memberships. Every query that reads or changes members is scoped by
 * the team id, so another team's members are never addressed. Writes that can change
 * who is an admin or a member run in a transaction that first takes `lockTeam`.
 *
 * Bound to one executor (the root database or a transaction) chosen by the service;
 * transactions open only in services.
 */
import type { Kysely } from 'kysely';
import { forUpdate, type Dialect } from '../../db/index.ts';
import type { Database, TeamMemberRow, TeamRole, TeamRow } from '../../db/schema.ts';

/** A member row with the inviter's email resolved. */
export interface MemberView extends TeamMemberRow {
  inviter_email: string | null;
}

export interface TeamView extends TeamRow {
  member_count: number;
}

type Executor = Kysely<Database>;

export class TeamsRepo {
  constructor(
    private readonly db: Executor,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Locks the team row for the rest of the transaction (PostgreSQL `FOR UPDATE`; SQLite
   * transactions are already serialized by BEGIN IMMEDIATE). Every membership change of a
   * team takes this lock first, so the reads that follow see the last committed state and
   * last-admin checks cannot race.
   */
  async lockTeam(teamId: string): Promise<TeamRow | undefined> {
    return forUpdate(this.db.selectFrom('teams').selectAll().where('id', '=', teamId), this.dialect).executeTakeFirst();
  }

  async findTeam(teamId: string): Promise<TeamView | undefined> {
    const team = await this.db.selectFrom('teams').selectAll().where('id', '=', teamId).executeTakeFirst();
    if (!team) return undefined;
    return { ...team, member_count: await this.countActive(teamId) };
  }

  async countActive(teamId: string, role?: TeamRole): Promise<number> {
    let q = this.db
      .selectFrom('team_members')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('team_id', '=', teamId)
      .where('status', '=', 'active');
    if (role) q = q.where('role', '=', role);
    const row = await q.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The user's active membership, if any. */
  activeMembership(userId: string): Promise<TeamMemberRow | undefined> {
    return this.db
      .selectFrom('team_members')
      .selectAll()
      .where('user_id', '=', userId)
      .where('status', '=', 'active')
      .executeTakeFirst();
  }

  /**
   * The user's active membership inside a write transaction, share-locked on PostgreSQL
   * until the transaction ends: a concurrent removal or role change waits for this
   * transaction, so the authority it checked still holds at its commit (SQLite
   * transactions are serialized anyway).
   */
  activeMembershipForWrite(userId: string): Promise<TeamMemberRow | undefined> {
    if (!this.db.isTransaction) throw new Error('activeMembershipForWrite needs a transaction: open one in the service');
    let q = this.db.selectFrom('team_members').selectAll().where('user_id', '=', userId).where('status', '=', 'active');
    if (this.dialect === 'postgres') q = q.forShare();
    return q.executeTakeFirst();
  }

  /** A team's id and name (GET /user), without counting its members. */
  teamName(teamId: string): Promise<Pick<TeamRow, 'id' | 'name'> | undefined> {
    return this.db.selectFrom('teams').select(['id', 'name']).where('id', '=', teamId).executeTakeFirst();
  }

  async insertTeam(row: TeamRow): Promise<void> {
    await this.db.insertInto('teams').values(row).execute();
  }

  async renameTeam(teamId: string, name: string, now: string): Promise<void> {
    await this.db.updateTable('teams').set({ name, updated_at: now }).where('id', '=', teamId).execute();
  }

  async insertMember(row: TeamMemberRow): Promise<void> {
    await this.db.insertInto('team_members').values(row).execute();
  }

  private members(teamId: string) {
    return this.db
      .selectFrom('team_members')
      .leftJoin('users as inviter', 'inviter.id', 'team_members.invited_by')
      .selectAll('team_members')
      .select('inviter.email as inviter_email')
      .where('team_members.team_id', '=', teamId);
  }

  /** Active members and pending invitations, oldest first. */
  listMembers(teamId: string): Promise<MemberView[]> {
    return this.members(teamId).orderBy('team_members.invited_at').orderBy('team_members.id').execute();
  }

  findMemberByEmail(teamId: string, email: string): Promise<MemberView | undefined> {
    return this.members(teamId).where('team_members.email', '=', email).executeTakeFirst();
  }

  findMemberById(teamId: string, id: string): Promise<MemberView | undefined> {
    return this.members(teamId).where('team_members.id', '=', id).executeTakeFirst();
  }

  /** The invitation row holding this token hash (pending only: the hash is cleared on accept). */
  findInvitation(tokenHash: string): Promise<TeamMemberRow | undefined> {
    return this.db.selectFrom('team_members').selectAll().where('invite_token_hash', '=', tokenHash).executeTakeFirst();
  }

  /** Re-issues an invitation (new token, role, inviter and expiry) on a pending row. */
  async reissueInvitation(
    teamId: string,
    id: string,
    v: { role: TeamRole; invited_by: string; invited_at: string; invite_token_hash: string; invite_expires_at: string; user_id: string | null },
  ): Promise<void> {
    await this.db
      .updateTable('team_members')
      .set(v)
      .where('team_id', '=', teamId)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute();
  }

  /** Turns a pending invitation into an active membership; false when it was no longer pending. */
  async activate(teamId: string, id: string, userId: string, now: string): Promise<boolean> {
    const r = await this.db
      .updateTable('team_members')
      .set({ status: 'active', user_id: userId, accepted_at: now, invite_token_hash: null, invite_expires_at: null })
      .where('team_id', '=', teamId)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setRole(teamId: string, id: string, role: TeamRole): Promise<void> {
    await this.db.updateTable('team_members').set({ role }).where('team_id', '=', teamId).where('id', '=', id).execute();
  }

  async deleteMember(teamId: string, id: string): Promise<void> {
    await this.db.deleteFrom('team_members').where('team_id', '=', teamId).where('id', '=', id).execute();
  }

  async touchTeam(teamId: string, now: string): Promise<void> {
    await this.db.updateTable('teams').set({ updated_at: now }).where('id', '=', teamId).execute();
  }
}
