/**
 * Teams (CONTRACT.md section 7): one team per user, invitations by email with a
 * one-time token (SHA-256 stored, 7 days), roles admin/member/viewer and the last-admin
 * protections. Every membership change runs in one transaction that locks the team row
 * first and re-reads the caller's membership under that lock, so concurrent changes
 * cannot leave a team without an admin; "one team per user" is the database's partial
 * unique index (team_members_one_active_per_user), caught as 409.
 * See docs/teams.md for the decisions.
 */
import { randomBytes } from 'node:crypto';
import { isUniqueViolation, nowIso, withTransaction, type Db, type Dialect } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import type { TeamMemberRow, TeamRole } from '../../db/schema.ts';
import { conflict, forbidden, invalid, notFound } from '../../errors/index.ts';
import { sha256Hex } from '../../lib/hash.ts';
import type { Principal } from '../auth/auth.service.ts';
import { EMAIL_RE, normalizeEmail, UsersRepo } from '../users/users.repo.ts';
import { TeamsRepo, type MemberView, type TeamView } from './teams.repo.ts';
import type { Team, TeamMember } from './teams.schemas.ts';

export const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const INVITE_TOKEN_PREFIX = 'neo_inv_';
const NAME_MAX = 100;

export interface TeamsServiceDeps {
  db: Db;
  dialect: Dialect;
  /** Drops a user's cached membership on every instance (AuthService.invalidateUser); called inside the write transaction, so the invalidation commits with it. */
  invalidateUser: (userId: string) => void;
  /** Drops a team's cached name on every instance (bus topic `team`, UsersService's cache); called inside the rename's transaction. */
  invalidateTeam?: (teamId: string) => void;
  clock?: () => number;
  random?: (n: number) => Buffer;
}

const NOT_IN_TEAM = 'you are not a member of a team';

export function presentTeam(t: TeamView): Team {
  return { id: t.id, name: t.name, member_count: t.member_count, created_at: t.created_at, updated_at: t.updated_at };
}

export function presentMember(m: MemberView): TeamMember {
  return {
    id: m.id,
    email: m.email,
    role: m.role,
    status: m.status,
    invited_at: m.invited_at,
    accepted_at: m.accepted_at,
    invited_by: m.inviter_email,
  };
}

/** Trims a team name and checks 1–100 characters without control characters. */
export function cleanTeamName(raw: string): string {
  const name = raw.trim();
  if (name.length === 0) throw invalid('name must not be empty');
  if (name.length > NAME_MAX) throw invalid(`name must be at most ${NAME_MAX} characters`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalid('name must not contain control characters');
  return name;
}

function cleanEmail(raw: string): string {
  const email = normalizeEmail(raw);
  if (email.length > 254 || !EMAIL_RE.test(email)) throw invalid('email is not a valid email address');
  return email;
}

export class TeamsService {
  /** Reads outside a transaction. */
  private readonly repo: TeamsRepo;
  private readonly users: UsersRepo;
  private readonly clock: () => number;

  constructor(private readonly deps: TeamsServiceDeps) {
    this.repo = new TeamsRepo(deps.db, deps.dialect);
    this.users = new UsersRepo(deps.db);
    this.clock = deps.clock ?? Date.now;
  }

  /** Runs `fn` in a transaction with the teams repository bound to it. */
  private tx<T>(fn: (repo: TeamsRepo) => Promise<T>): Promise<T> {
    return withTransaction(this.deps.db, (trx) => fn(new TeamsRepo(trx, this.deps.dialect)));
  }

  /** Creates a team with the caller as its first active admin; 409 when the caller is in a team. */
  async create(p: Principal, rawName: string): Promise<Team> {
    const name = cleanTeamName(rawName);
    const now = nowIso(this.clock);
    const teamId = uuidv7();
    try {
      await this.tx(async (repo) => {
        if (await repo.activeMembership(p.user.id)) throw conflict('you are already in a team; leave it before creating another');
        await repo.insertTeam({ id: teamId, name, created_at: now, updated_at: now });
        await repo.insertMember({
          id: uuidv7(),
          team_id: teamId,
          user_id: p.user.id,
          email: normalizeEmail(p.user.email),
          role: 'admin',
          status: 'active',
          invited_by: null,
          invited_at: now,
          accepted_at: now,
          invite_token_hash: null,
          invite_expires_at: null,
        });
        this.deps.invalidateUser(p.user.id);
      });
    } catch (err) {
      // Two creates (or a create and an accept) raced: the partial unique index decided.
      if (isUniqueViolation(err)) throw conflict('you are already in a team; leave it before creating another');
      throw err;
    }
    return presentTeam({ id: teamId, name, created_at: now, updated_at: now, member_count: 1 });
  }

  /** The caller's team; 404 for a solo user. */
  async get(p: Principal): Promise<Team> {
    const m = await this.repo.activeMembership(p.user.id);
    const team = m ? await this.repo.findTeam(m.team_id) : undefined;
    if (!team) throw notFound(NOT_IN_TEAM);
    return presentTeam(team);
  }

  /** Renames the caller's team (admin). */
  async rename(p: Principal, rawName: string): Promise<Team> {
    const name = cleanTeamName(rawName);
    const teamId = await this.tx(async (repo) => {
      const me = await this.lockMyTeam(repo, p);
      requireAdmin(me, 'rename the team');
      await repo.renameTeam(me.team_id, name, nowIso(this.clock));
      this.deps.invalidateTeam?.(me.team_id);
      return me.team_id;
    });
    const team = await this.repo.findTeam(teamId);
    if (!team) throw notFound(NOT_IN_TEAM);
    return presentTeam(team);
  }

  /** Active members and pending invitations of the caller's team (any role). */
  async members(p: Principal): Promise<TeamMember[]> {
    const m = await this.repo.activeMembership(p.user.id);
    if (!m) throw notFound(NOT_IN_TEAM);
    return (await this.repo.listMembers(m.team_id)).map(presentMember);
  }

  /**
   * Invites an email (admin). 409 when it is already a member or holds a live invitation;
   * an expired invitation is replaced by a new one.
   */
  async invite(p: Principal, rawEmail: string, role: TeamRole = 'member'): Promise<{ member: TeamMember; invite_token: string }> {
    const email = cleanEmail(rawEmail);
    const token = INVITE_TOKEN_PREFIX + (this.deps.random ?? randomBytes)(32).toString('base64url');
    const tokenHash = sha256Hex(token);
    const nowMs = this.clock();
    const now = nowIso(() => nowMs);
    const expires = nowIso(() => nowMs + INVITE_TTL_MS);
    const invitee = await this.users.findByEmail(email);
    try {
      const member = await this.tx(async (repo) => {
        const me = await this.lockMyTeam(repo, p);
        requireAdmin(me, 'invite members');
        const existing = await repo.findMemberByEmail(me.team_id, email);
        const fields = {
          role,
          invited_by: p.user.id,
          invited_at: now,
          invite_token_hash: tokenHash,
          invite_expires_at: expires,
          user_id: invitee?.id ?? null,
        };
        let id: string;
        if (existing) {
          if (existing.status === 'active') throw conflict(`${email} is already a member of this team`);
          if (existing.invite_expires_at && Date.parse(existing.invite_expires_at) > nowMs) {
            throw conflict(`${email} already has a pending invitation; remove it first to send a new one`);
          }
          await repo.reissueInvitation(me.team_id, existing.id, fields);
          id = existing.id;
        } else {
          id = uuidv7();
          await repo.insertMember({ id, team_id: me.team_id, email, status: 'pending', accepted_at: null, ...fields });
        }
        await repo.touchTeam(me.team_id, now);
        return repo.findMemberById(me.team_id, id);
      });
      if (!member) throw new Error('invitation vanished after insert');
      return { member: presentMember(member), invite_token: token };
    } catch (err) {
      // A concurrent invitation of the same email won (unique team_id + email).
      if (isUniqueViolation(err)) throw conflict(`${email} is already a member or invited`);
      throw err;
    }
  }

  /**
   * Accepts an invitation: only the invited email may, only while it is pending and not
   * expired, and only when the caller is in no team (409).
   */
  async accept(p: Principal, token: string): Promise<{ member: TeamMember; team: Team }> {
    const hash = sha256Hex(token.trim());
    const USED = 'the invitation token is invalid or has already been used';
    const first = await this.repo.findInvitation(hash);
    if (!first) throw invalid(USED);
    let teamId: string;
    try {
      teamId = await this.tx(async (repo) => {
        if (!(await repo.lockTeam(first.team_id))) throw invalid(USED);
        const inv = await repo.findInvitation(hash);
        if (!inv || inv.status !== 'pending' || inv.team_id !== first.team_id) throw invalid(USED);
        if (inv.email !== normalizeEmail(p.user.email)) throw forbidden('this invitation was sent to another email address');
        if (!inv.invite_expires_at || Date.parse(inv.invite_expires_at) <= this.clock()) {
          throw invalid('the invitation has expired; ask a team admin for a new one');
        }
        if (await repo.activeMembership(p.user.id)) throw conflict('you are already in a team; leave it before accepting');
        const now = nowIso(this.clock);
        if (!(await repo.activate(inv.team_id, inv.id, p.user.id, now))) throw invalid(USED);
        await repo.touchTeam(inv.team_id, now);
        this.deps.invalidateUser(p.user.id);
        return inv.team_id;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('you are already in a team; leave it before accepting');
      throw err;
    }
    const [member, team] = await Promise.all([
      this.repo.findMemberByEmail(teamId, normalizeEmail(p.user.email)),
      this.repo.findTeam(teamId),
    ]);
    if (!member || !team) throw notFound('the team no longer exists');
    return { member: presentMember(member), team: presentTeam(team) };
  }

  /** Changes a member's (or a pending invitation's) role (admin); the last admin cannot be demoted. */
  async changeRole(p: Principal, rawEmail: string, role: TeamRole): Promise<TeamMember> {
    const email = cleanEmail(rawEmail);
    const { member } = await this.tx(async (repo) => {
      const me = await this.lockMyTeam(repo, p);
      requireAdmin(me, 'change roles');
      const target = await repo.findMemberByEmail(me.team_id, email);
      if (!target) throw notFound(`${email} is not a member of this team`);
      if (target.role === role) return { member: target };
      if (target.status === 'active' && target.role === 'admin' && (await repo.countActive(me.team_id, 'admin')) <= 1) {
        throw invalid('the last admin cannot be demoted; make another member admin first');
      }
      await repo.setRole(me.team_id, target.id, role);
      await repo.touchTeam(me.team_id, nowIso(this.clock));
      if (target.status === 'active' && target.user_id) this.deps.invalidateUser(target.user_id);
      return { member: { ...target, role } };
    });
    return presentMember(member);
  }

  /**
   * Removes a member or revokes a pending invitation. Admins remove anyone; members and
   * viewers only themselves (leaving). The last active admin can never leave or be
   * removed (400, CONTRACT section 7), not even as the team's only member: a team is
   * never deleted here, so its BYOK data is never dropped as a side effect of leaving.
   */
  async remove(p: Principal, rawEmail: string): Promise<{ removed: true }> {
    const email = cleanEmail(rawEmail);
    await this.tx(async (repo) => {
      const me = await this.lockMyTeam(repo, p);
      const self = email === me.email;
      if (!self) requireAdmin(me, 'remove other members');
      const target = self ? me : await repo.findMemberByEmail(me.team_id, email);
      if (!target) throw notFound(`${email} is not a member of this team`);
      if (target.status === 'active' && target.role === 'admin' && (await repo.countActive(me.team_id, 'admin')) <= 1) {
        if ((await repo.countActive(me.team_id)) <= 1) {
          throw invalid(
            'the last admin cannot leave the team, and you are its only member: a one-person team cannot be left; ' +
              'invite someone, make them admin, then leave',
          );
        }
        throw invalid('the last admin cannot leave the team; make another member admin first');
      }
      await repo.deleteMember(me.team_id, target.id);
      await repo.touchTeam(me.team_id, nowIso(this.clock));
      if (target.status === 'active' && target.user_id) this.deps.invalidateUser(target.user_id);
    });
    return { removed: true };
  }

  /**
   * Locks the caller's team and returns the caller's membership as it is under the lock
   * (a concurrent change may have removed or demoted the caller meanwhile).
   */
  private async lockMyTeam(repo: TeamsRepo, p: Principal): Promise<TeamMemberRow> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await repo.activeMembership(p.user.id);
      if (!before) throw notFound(NOT_IN_TEAM);
      if (!(await repo.lockTeam(before.team_id))) continue;
      const after = await repo.activeMembership(p.user.id);
      if (after && after.team_id === before.team_id) return after;
      if (!after) throw notFound(NOT_IN_TEAM);
    }
    throw notFound(NOT_IN_TEAM);
  }
}

function requireAdmin(me: TeamMemberRow, what: string): void {
  if (me.role !== 'admin') throw forbidden(`only team admins may ${what}; your team role is ${me.role}`);
}
