import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nowIso } from '../src/db/index.ts';
import { sha256Hex } from '../src/lib/hash.ts';
import { createTestContext, signTestJwt, testDialects, type TestContext } from './helpers/context.ts';
import { createTeam, createUser, uniqueEmail, type TestUser } from './helpers/fixtures.ts';
import { assertErrorResponse, securitySuite } from './helpers/security.ts';

interface TeamBody {
  id: string;
  name: string;
  member_count: number;
  created_at: string;
  updated_at: string;
}
interface MemberBody {
  id: string;
  email: string;
  role: string;
  status: string;
  invited_at: string;
  accepted_at: string | null;
  invited_by: string | null;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const dialect of testDialects()) {
  describe(`Teams [${dialect}]`, () => {
    let ctx: TestContext;
    const tokens: string[] = [];
    before(async () => {
      ctx = await createTestContext({ dialect });
    });
    after(async () => {
      const logs = ctx.logs.join('\n');
      for (const t of tokens) assert.ok(!logs.includes(t), 'an invitation token appeared in the logs');
      await ctx.close();
    });

    const api = (user: TestUser, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      ctx.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });

    const newTeam = async (admin: TestUser, name = 'Team ' + uniqueEmail('t').slice(0, 12)): Promise<TeamBody> => {
      const res = await api(admin, 'POST', '/api/v1/teams', { name });
      assert.equal(res.statusCode, 201, res.body);
      return res.json<{ team: TeamBody }>().team;
    };

    const invite = async (admin: TestUser, email: string, role?: string) => {
      const res = await api(admin, 'POST', '/api/v1/teams/members/invite', { email, ...(role ? { role } : {}) });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json<{ member: MemberBody; invite_token: string }>();
      tokens.push(body.invite_token);
      return body;
    };

    const accept = (user: TestUser, token: string) => api(user, 'POST', '/api/v1/teams/invitations/accept', { invite_token: token });

    /** A team made through the API: admin + the given members, all active. */
    const teamWith = async (roles: ('admin' | 'member' | 'viewer')[]) => {
      const admin = await createUser(ctx);
      const team = await newTeam(admin);
      const others: TestUser[] = [];
      for (const role of roles) {
        const u = await createUser(ctx);
        const inv = await invite(admin, u.email, role);
        assert.equal((await accept(u, inv.invite_token)).statusCode, 200);
        others.push(u);
      }
      return { admin, team, others };
    };

    const membership = async (user: TestUser) => (await ctx.app.services.auth.authenticateJwt(await signTestJwt(user.email, { sub: user.sub }))).membership;

    describe('create and read', () => {
      it('a solo user creates a team (201) and becomes its active admin', async () => {
        const user = await createUser(ctx);
        const res = await api(user, 'POST', '/api/v1/teams', { name: '  Red Team  ' });
        assert.equal(res.statusCode, 201);
        const team = res.json<{ team: TeamBody }>().team;
        assert.deepEqual(Object.keys(res.json()), ['team']);
        assert.match(team.id, UUID_RE);
        assert.equal(team.name, 'Red Team');
        assert.equal(team.member_count, 1);
        assert.equal(team.created_at, team.updated_at);

        const got = await api(user, 'GET', '/api/v1/teams');
        assert.equal(got.statusCode, 200);
        assert.deepEqual(got.json(), { team });
        const members = (await api(user, 'GET', '/api/v1/teams/members')).json<{ members: MemberBody[] }>().members;
        assert.equal(members.length, 1);
        assert.deepEqual(
          { email: members[0]!.email, role: members[0]!.role, status: members[0]!.status, invited_by: members[0]!.invited_by },
          { email: user.email, role: 'admin', status: 'active', invited_by: null },
        );
        assert.ok(members[0]!.accepted_at);
        assert.deepEqual(await membership(user), { teamId: team.id, role: 'admin' });
      });

      it('GET /teams and /teams/members → 404 for a solo user', async () => {
        const user = await createUser(ctx);
        assertErrorResponse(await api(user, 'GET', '/api/v1/teams'), 404, 'not_exists');
        assertErrorResponse(await api(user, 'GET', '/api/v1/teams/members'), 404, 'not_exists');
        assertErrorResponse(await api(user, 'PATCH', '/api/v1/teams', { name: 'x' }), 404, 'not_exists');
      });

      it('creating a second team while in one → 409', async () => {
        const user = await createUser(ctx);
        await newTeam(user);
        assertErrorResponse(await api(user, 'POST', '/api/v1/teams', { name: 'Second' }), 409, 'already_exists');
      });

      it('one team per user holds under concurrent creates', async () => {
        const user = await createUser(ctx);
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) => api(user, 'POST', '/api/v1/teams', { name: `Race ${i}` })),
        );
        assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409]);
        const rows = await ctx.database.db.selectFrom('team_members').select('team_id').where('user_id', '=', user.id).execute();
        assert.equal(rows.length, 1);
        // The losers' teams were rolled back with their membership.
        const teams = await ctx.database.db.selectFrom('teams').select('id').where('name', 'like', 'Race %').execute();
        assert.equal(teams.length, 1);
      });

      it('name validation: trimmed 1–100 characters, no control characters, no unknown fields', async () => {
        const user = await createUser(ctx);
        for (const name of ['', '   ', 'x'.repeat(101), 'bad\u0000name', 'tab\tname']) {
          assertErrorResponse(await api(user, 'POST', '/api/v1/teams', { name }), 400, 'invalid_request', JSON.stringify(name));
        }
        assertErrorResponse(await api(user, 'POST', '/api/v1/teams', { name: 42 }), 400, 'invalid_request');
        assertErrorResponse(await api(user, 'POST', '/api/v1/teams', {}), 400, 'invalid_request');
        assertErrorResponse(await api(user, 'POST', '/api/v1/teams', { name: 'ok', extra: 1 }), 400, 'invalid_request');
        const ok = await api(user, 'POST', '/api/v1/teams', { name: 'y'.repeat(100) });
        assert.equal(ok.statusCode, 201);
      });

      it('PATCH /teams renames (admin); member and viewer → 403', async () => {
        const { admin, team, others } = await teamWith(['member', 'viewer']);
        const res = await api(admin, 'PATCH', '/api/v1/teams', { name: ' Renamed ' });
        assert.equal(res.statusCode, 200);
        const t = res.json<{ team: TeamBody }>().team;
        assert.equal(t.name, 'Renamed');
        assert.equal(t.id, team.id);
        assert.equal(t.member_count, 3);
        assert.ok(t.updated_at >= team.updated_at);
        for (const u of others) assertErrorResponse(await api(u, 'PATCH', '/api/v1/teams', { name: 'Nope' }), 403, 'forbidden');
        // The role is checked before the body: a member learns nothing about the request shape.
        assertErrorResponse(await api(others[0]!, 'PATCH', '/api/v1/teams', { bogus: 1 }), 403, 'forbidden');
        assertErrorResponse(await api(others[1]!, 'POST', '/api/v1/teams/members/invite', { email: 'x' }), 403, 'forbidden');
        assertErrorResponse(await api(admin, 'PATCH', '/api/v1/teams', { bogus: 1 }), 400, 'invalid_request');
        assert.equal((await api(others[0]!, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.name, 'Renamed');
      });
    });

    describe('invitations', () => {
      it('an admin invites (201): pending member, token shown once, only its SHA-256 stored, 7 days', async () => {
        const admin = await createUser(ctx);
        const team = await newTeam(admin);
        const email = uniqueEmail('invitee');
        const res = await api(admin, 'POST', '/api/v1/teams/members/invite', { email: email.toUpperCase() });
        assert.equal(res.statusCode, 201);
        const body = res.json<{ member: MemberBody; invite_token: string }>();
        tokens.push(body.invite_token);
        assert.deepEqual(Object.keys(body).sort(), ['invite_token', 'member']);
        assert.equal(body.member.email, email);
        assert.equal(body.member.role, 'member');
        assert.equal(body.member.status, 'pending');
        assert.equal(body.member.accepted_at, null);
        assert.equal(body.member.invited_by, admin.email);
        assert.ok(body.invite_token.length >= 40);

        const row = await ctx.database.db.selectFrom('team_members').selectAll().where('id', '=', body.member.id).executeTakeFirstOrThrow();
        assert.equal(row.team_id, team.id);
        assert.equal(row.invite_token_hash, sha256Hex(body.invite_token));
        const ttl = Date.parse(row.invite_expires_at!) - Date.parse(row.invited_at);
        assert.equal(ttl, 7 * 24 * 3600 * 1000);
        const all = JSON.stringify(await ctx.database.db.selectFrom('team_members').selectAll().execute());
        assert.ok(!all.includes(body.invite_token), 'the plaintext invitation token is stored');

        // Listed for every member, not counted as a member.
        const members = (await api(admin, 'GET', '/api/v1/teams/members')).json<{ members: MemberBody[] }>().members;
        assert.deepEqual(
          members.map((m) => [m.email, m.status]),
          [
            [admin.email, 'active'],
            [email, 'pending'],
          ],
        );
        assert.equal((await api(admin, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.member_count, 1);
        // Never shown again.
        assert.ok(!(await api(admin, 'GET', '/api/v1/teams/members')).body.includes(body.invite_token));
      });

      it('inviting a member or an already invited email (any case) → 409', async () => {
        const { admin, others } = await teamWith(['member']);
        const email = uniqueEmail('dup');
        await invite(admin, email, 'viewer');
        assertErrorResponse(await api(admin, 'POST', '/api/v1/teams/members/invite', { email: email.toUpperCase() }), 409, 'already_exists');
        assertErrorResponse(await api(admin, 'POST', '/api/v1/teams/members/invite', { email: others[0]!.email }), 409, 'already_exists');
        assertErrorResponse(await api(admin, 'POST', '/api/v1/teams/members/invite', { email: admin.email }), 409, 'already_exists');
      });

      it('invite validation: email format, role enum, unknown fields → 400', async () => {
        const admin = await createUser(ctx);
        await newTeam(admin);
        for (const payload of [
          { email: 'not-an-email' },
          { email: '' },
          { email: 'a@b.c', role: 'owner' },
          { email: uniqueEmail(), role: 'ADMIN' },
          { email: uniqueEmail(), extra: true },
          { role: 'member' },
          // Unicode look-alikes never fold onto an ASCII address (KELVIN SIGN, fullwidth, dotless i, long s).
          { email: '\u212Aim@corp.test' },
          { email: '\uFF4Bim@corp.test' },
          { email: 'k\u0131m@corp.test' },
          { email: '\u017Fam@corp.test' },
        ]) {
          assertErrorResponse(await api(admin, 'POST', '/api/v1/teams/members/invite', payload), 400, 'invalid_request', JSON.stringify(payload));
        }
      });

      it('emails are trimmed as docs/teams.md and the CLI say: invite, role change and removal accept surrounding spaces', async () => {
        const { admin } = await teamWith([]);
        const invitee = await createUser(ctx);
        const padded = `  ${invitee.email.toUpperCase()}\t`;
        const inv = await invite(admin, padded, 'viewer');
        assert.equal(inv.member.email, invitee.email.toLowerCase(), 'stored trimmed and lower-cased');
        assert.equal((await accept(invitee, inv.invite_token)).statusCode, 200);
        const role = await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: ` ${invitee.email} `, role: 'member' });
        assert.equal(role.statusCode, 200, role.body);
        assert.equal(role.json<{ member: MemberBody }>().member.role, 'member');
        const removed = await api(admin, 'DELETE', '/api/v1/teams/members', { email: `${invitee.email}  ` });
        assert.equal(removed.statusCode, 200, removed.body);
        // Spaces inside an address are still malformed.
        for (const email of ['a b@corp.test', '   ', ' @corp.test ']) {
          assertErrorResponse(await api(admin, 'POST', '/api/v1/teams/members/invite', { email }), 400, 'invalid_request', JSON.stringify(email));
        }
      });

      it('the invited user accepts (200): active member of the team, membership effective at once', async () => {
        const admin = await createUser(ctx);
        const team = await newTeam(admin);
        const invitee = await createUser(ctx);
        assert.equal(await membership(invitee), null);
        const inv = await invite(admin, invitee.email.toUpperCase(), 'viewer');
        const res = await accept(invitee, inv.invite_token);
        assert.equal(res.statusCode, 200);
        const body = res.json<{ member: MemberBody; team: TeamBody }>();
        assert.equal(body.member.id, inv.member.id);
        assert.equal(body.member.status, 'active');
        assert.equal(body.member.role, 'viewer');
        assert.equal(body.member.invited_by, admin.email);
        assert.ok(body.member.accepted_at);
        assert.equal(body.team.id, team.id);
        assert.equal(body.team.member_count, 2);
        assert.deepEqual(await membership(invitee), { teamId: team.id, role: 'viewer' });
        assert.equal((await api(invitee, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.id, team.id);
        const row = await ctx.database.db.selectFrom('team_members').selectAll().where('id', '=', inv.member.id).executeTakeFirstOrThrow();
        assert.equal(row.invite_token_hash, null);
        assert.equal(row.user_id, invitee.id);
      });

      it('a used, unknown or expired token → 400; another email → 403', async () => {
        const admin = await createUser(ctx);
        await newTeam(admin);
        const invitee = await createUser(ctx);
        const inv = await invite(admin, invitee.email);
        const stranger = await createUser(ctx);
        assertErrorResponse(await accept(stranger, inv.invite_token), 403, 'forbidden');
        assert.equal((await accept(invitee, inv.invite_token)).statusCode, 200);
        assertErrorResponse(await accept(invitee, inv.invite_token), 400, 'invalid_request');
        assertErrorResponse(await accept(stranger, 'neo_inv_unknown'), 400, 'invalid_request');

        const late = await createUser(ctx);
        const lateInv = await invite(admin, late.email);
        await ctx.database.db
          .updateTable('team_members')
          .set({ invite_expires_at: nowIso(() => Date.now() - 1000) })
          .where('id', '=', lateInv.member.id)
          .execute();
        const expired = assertErrorResponse(await accept(late, lateInv.invite_token), 400, 'invalid_request');
        assert.match(String(expired.message), /expired/);
        // An expired invitation is replaced by a new one; the old token stays dead.
        const again = await invite(admin, late.email, 'admin');
        assert.equal(again.member.id, lateInv.member.id);
        assert.notEqual(again.invite_token, lateInv.invite_token);
        assertErrorResponse(await accept(late, lateInv.invite_token), 400, 'invalid_request');
        const ok = await accept(late, again.invite_token);
        assert.equal(ok.statusCode, 200);
        assert.equal(ok.json<{ member: MemberBody }>().member.role, 'admin');
      });

      it('a user in two teams is refused: accepting while in another team → 409, the invitation stays pending', async () => {
        const a = await teamWith([]);
        const b = await teamWith(['member']);
        const inv = await invite(a.admin, b.others[0]!.email);
        assertErrorResponse(await accept(b.others[0]!, inv.invite_token), 409, 'already_exists');
        const row = await ctx.database.db.selectFrom('team_members').select('status').where('id', '=', inv.member.id).executeTakeFirstOrThrow();
        assert.equal(row.status, 'pending');
        assert.equal((await membership(b.others[0]!))?.teamId, b.team.id);
        // After leaving B, the same invitation works.
        assert.equal((await api(b.others[0]!, 'DELETE', '/api/v1/teams/members', { email: b.others[0]!.email })).statusCode, 200);
        assert.equal((await accept(b.others[0]!, inv.invite_token)).statusCode, 200);
        assert.equal((await membership(b.others[0]!))?.teamId, a.team.id);
      });

      it('one team per user holds when two invitations are accepted at once', async () => {
        const a = await teamWith([]);
        const b = await teamWith([]);
        const user = await createUser(ctx);
        const ia = await invite(a.admin, user.email);
        const ib = await invite(b.admin, user.email);
        const results = await Promise.all([accept(user, ia.invite_token), accept(user, ib.invite_token)]);
        assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409]);
        const active = await ctx.database.db
          .selectFrom('team_members')
          .select('team_id')
          .where('user_id', '=', user.id)
          .where('status', '=', 'active')
          .execute();
        assert.equal(active.length, 1);
      });

      it('an admin revokes a pending invitation with DELETE /teams/members', async () => {
        const admin = await createUser(ctx);
        await newTeam(admin);
        const invitee = await createUser(ctx);
        const inv = await invite(admin, invitee.email);
        const res = await api(admin, 'DELETE', '/api/v1/teams/members', { email: invitee.email });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), { removed: true });
        assertErrorResponse(await accept(invitee, inv.invite_token), 400, 'invalid_request');
      });
    });

    describe('roles', () => {
      it('an admin changes roles; the new role applies at once', async () => {
        const { admin, team, others } = await teamWith(['member']);
        const m = others[0]!;
        assert.deepEqual(await membership(m), { teamId: team.id, role: 'member' });
        assertErrorResponse(await api(m, 'PATCH', '/api/v1/teams', { name: 'x' }), 403, 'forbidden');
        const res = await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: m.email.toUpperCase(), role: 'admin' });
        assert.equal(res.statusCode, 200);
        const member = res.json<{ member: MemberBody }>().member;
        assert.equal(member.email, m.email);
        assert.equal(member.role, 'admin');
        assert.equal(member.status, 'active');
        assert.deepEqual(await membership(m), { teamId: team.id, role: 'admin' });
        assert.equal((await api(m, 'PATCH', '/api/v1/teams', { name: 'Promoted' })).statusCode, 200);
        // Setting the same role again is a 200.
        assert.equal((await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: m.email, role: 'admin' })).statusCode, 200);
      });

      it('the last admin cannot be demoted (400); with two admins one may step down', async () => {
        const { admin, others } = await teamWith(['member']);
        const demote = await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: admin.email, role: 'member' });
        assertErrorResponse(demote, 400, 'invalid_request');
        assert.match(String(demote.json<{ message: string }>().message), /last admin/);
        await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: others[0]!.email, role: 'admin' });
        assert.equal((await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: admin.email, role: 'viewer' })).statusCode, 200);
        assertErrorResponse(
          await api(others[0]!, 'PATCH', '/api/v1/teams/members/role', { email: others[0]!.email, role: 'member' }),
          400,
          'invalid_request',
        );
        // The demoted admin lost admin rights at once.
        assertErrorResponse(await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: others[0]!.email, role: 'member' }), 403, 'forbidden');
      });

      it('concurrent demotions cannot leave a team without an admin', async () => {
        const { admin, team, others } = await teamWith(['admin', 'member']);
        const second = others[0]!;
        const results = await Promise.all([
          api(admin, 'PATCH', '/api/v1/teams/members/role', { email: admin.email, role: 'member' }),
          api(second, 'PATCH', '/api/v1/teams/members/role', { email: second.email, role: 'member' }),
        ]);
        assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 400]);
        const admins = await ctx.database.db
          .selectFrom('team_members')
          .select('id')
          .where('team_id', '=', team.id)
          .where('role', '=', 'admin')
          .where('status', '=', 'active')
          .execute();
        assert.equal(admins.length, 1);
      });

      it('role change: unknown email → 404, bad role → 400, member/viewer → 403', async () => {
        const { admin, others } = await teamWith(['member', 'viewer']);
        assertErrorResponse(await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: uniqueEmail(), role: 'member' }), 404, 'not_exists');
        assertErrorResponse(await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: others[0]!.email, role: 'owner' }), 400, 'invalid_request');
        for (const u of others) {
          assertErrorResponse(await api(u, 'PATCH', '/api/v1/teams/members/role', { email: u.email, role: 'admin' }), 403, 'forbidden');
        }
      });
    });

    describe('removal', () => {
      it('an admin removes a member; the removed user is solo at once', async () => {
        const { admin, team, others } = await teamWith(['member']);
        const m = others[0]!;
        assert.equal((await membership(m))?.teamId, team.id);
        const res = await api(admin, 'DELETE', '/api/v1/teams/members', { email: m.email });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), { removed: true });
        assert.equal(await membership(m), null);
        assertErrorResponse(await api(m, 'GET', '/api/v1/teams'), 404, 'not_exists');
        assert.equal((await api(admin, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.member_count, 1);
        assertErrorResponse(await api(admin, 'DELETE', '/api/v1/teams/members', { email: m.email }), 404, 'not_exists');
      });

      it('members and viewers may leave but not remove others (403)', async () => {
        const { admin, others } = await teamWith(['member', 'viewer', 'member']);
        const [member, viewer, other] = others as [TestUser, TestUser, TestUser];
        assertErrorResponse(await api(member, 'DELETE', '/api/v1/teams/members', { email: other.email }), 403, 'forbidden');
        assertErrorResponse(await api(viewer, 'DELETE', '/api/v1/teams/members', { email: admin.email }), 403, 'forbidden');
        assert.equal((await api(viewer, 'DELETE', '/api/v1/teams/members', { email: viewer.email.toUpperCase() })).statusCode, 200);
        assert.equal((await api(member, 'DELETE', '/api/v1/teams/members', { email: member.email })).statusCode, 200);
        const left = (await api(admin, 'GET', '/api/v1/teams/members')).json<{ members: MemberBody[] }>().members.map((m) => m.email);
        assert.deepEqual(left.sort(), [admin.email, other.email].sort());
      });

      it('the last admin cannot leave while others remain (400); another admin can be removed', async () => {
        const { admin, others } = await teamWith(['member', 'admin']);
        const res = await api(admin, 'DELETE', '/api/v1/teams/members', { email: admin.email });
        // Two admins: leaving is fine for one of them.
        assert.equal(res.statusCode, 200);
        const [member, admin2] = others as [TestUser, TestUser];
        assertErrorResponse(await api(admin2, 'DELETE', '/api/v1/teams/members', { email: admin2.email }), 400, 'invalid_request');
        assert.equal((await api(admin2, 'GET', '/api/v1/teams')).statusCode, 200);
        assert.equal((await api(member, 'GET', '/api/v1/teams')).statusCode, 200);
      });

      it('concurrent leaves of the two admins keep one admin', async () => {
        const { admin, team, others } = await teamWith(['admin', 'member']);
        const second = others[0]!;
        const results = await Promise.all([
          api(admin, 'DELETE', '/api/v1/teams/members', { email: admin.email }),
          api(second, 'DELETE', '/api/v1/teams/members', { email: second.email }),
        ]);
        assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 400]);
        const admins = await ctx.database.db
          .selectFrom('team_members')
          .select('id')
          .where('team_id', '=', team.id)
          .where('role', '=', 'admin')
          .where('status', '=', 'active')
          .execute();
        assert.equal(admins.length, 1);
      });

      it('the last admin cannot leave even as the only member (400); the team and its BYOK data stay', async () => {
        const admin = await createUser(ctx);
        const team = await newTeam(admin);
        const invitee = await createUser(ctx);
        const inv = await invite(admin, invitee.email);
        const now = nowIso();
        await ctx.database.db.insertInto('byok_settings').values({ owner_type: 'team', owner_id: team.id, mode: 'neo', updated_at: now }).execute();
        await ctx.app.services.features.set({ type: 'team', id: team.id }, 'byok', true);
        const res = await api(admin, 'DELETE', '/api/v1/teams/members', { email: admin.email });
        assertErrorResponse(res, 400, 'invalid_request');
        const message = String(res.json<{ message: string }>().message);
        assert.match(message, /last admin/);
        assert.match(message, /one-person team cannot be left/);
        assert.deepEqual(await membership(admin), { teamId: team.id, role: 'admin' });
        const db = ctx.database.db;
        assert.equal((await db.selectFrom('teams').select('id').where('id', '=', team.id).execute()).length, 1);
        assert.equal((await db.selectFrom('byok_settings').select('mode').where('owner_id', '=', team.id).execute()).length, 1);
        assert.equal((await db.selectFrom('features').select('name').where('owner_id', '=', team.id).execute()).length, 1);
        // The way out the message names: invite someone, make them admin, then leave.
        assert.equal((await accept(invitee, inv.invite_token)).statusCode, 200);
        assert.equal((await api(admin, 'PATCH', '/api/v1/teams/members/role', { email: invitee.email, role: 'admin' })).statusCode, 200);
        const left = await api(admin, 'DELETE', '/api/v1/teams/members', { email: admin.email });
        assert.equal(left.statusCode, 200);
        assert.deepEqual(left.json(), { removed: true });
        assert.equal(await membership(admin), null);
        assert.equal((await api(invitee, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.member_count, 1);
      });
    });

    describe('isolation', () => {
      it("another team's members are invisible and cannot be addressed", async () => {
        const a = await teamWith(['member']);
        const b = await teamWith(['member', 'viewer']);
        const listA = (await api(a.admin, 'GET', '/api/v1/teams/members')).json<{ members: MemberBody[] }>().members;
        const emailsA = listA.map((m) => m.email);
        for (const u of [b.admin, ...b.others]) assert.ok(!emailsA.includes(u.email));
        assert.equal(listA.length, 2);
        const target = b.others[0]!.email;
        assertErrorResponse(await api(a.admin, 'PATCH', '/api/v1/teams/members/role', { email: target, role: 'viewer' }), 404, 'not_exists');
        assertErrorResponse(await api(a.admin, 'DELETE', '/api/v1/teams/members', { email: target }), 404, 'not_exists');
        assertErrorResponse(await api(a.admin, 'DELETE', '/api/v1/teams/members', { email: b.admin.email }), 404, 'not_exists');
        // B is untouched.
        const listB = (await api(b.admin, 'GET', '/api/v1/teams/members')).json<{ members: MemberBody[] }>().members;
        assert.equal(listB.length, 3);
        assert.equal(listB.find((m) => m.email === target)?.role, 'member');
        // Inviting B's member into A is allowed, but accepting needs them to leave B first.
        const inv = await invite(a.admin, target);
        assertErrorResponse(await accept(b.others[0]!, inv.invite_token), 409, 'already_exists');
      });

      it('team rows made by fixtures are read the same way (viewer sees the list)', async () => {
        const admin = await createUser(ctx);
        const viewer = await createUser(ctx);
        const team = await createTeam(ctx, [
          { user: admin, role: 'admin' },
          { user: viewer, role: 'viewer' },
        ]);
        const res = await api(viewer, 'GET', '/api/v1/teams/members');
        assert.equal(res.statusCode, 200);
        assert.equal(res.json<{ members: MemberBody[] }>().members.length, 2);
        assert.equal((await api(viewer, 'GET', '/api/v1/teams')).json<{ team: TeamBody }>().team.id, team.id);
      });
    });

    it('the OpenAPI document describes every Teams operation with the Team and TeamMember components', async () => {
      const doc = (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      const ops: [string, string, string, string[]][] = [
        ['/api/v1/teams', 'post', 'post-v1-teams', ['201', '400', '401', '409']],
        ['/api/v1/teams', 'get', 'get-v1-teams', ['200', '401', '404']],
        ['/api/v1/teams', 'patch', 'patch-v1-teams', ['200', '400', '401', '403', '404']],
        ['/api/v1/teams/members', 'get', 'get-v1-teams-members', ['200', '401', '404']],
        ['/api/v1/teams/members/invite', 'post', 'post-v1-teams-members-invite', ['201', '400', '401', '403', '409']],
        ['/api/v1/teams/invitations/accept', 'post', 'post-v1-teams-invitations-accept', ['200', '400', '401', '403', '409']],
        ['/api/v1/teams/members/role', 'patch', 'patch-v1-teams-members-role', ['200', '400', '401', '403', '404']],
        ['/api/v1/teams/members', 'delete', 'delete-v1-teams-members', ['200', '400', '401', '403', '404']],
      ];
      for (const [path, method, id, statuses] of ops) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method} ${path} is documented`);
        assert.equal(op.operationId, id);
        assert.deepEqual(op.tags, ['Teams']);
        assert.deepEqual(op.security, [{ BearerAuth: [] }, { ApiKeyAuth: [] }]);
        for (const s of statuses) assert.ok(op.responses[s], `${id} documents ${s}`);
      }
      const { Team, TeamMember } = doc.components.schemas;
      assert.deepEqual([...Team.required].sort(), ['created_at', 'id', 'member_count', 'name', 'updated_at']);
      assert.deepEqual([...TeamMember.required].sort(), ['accepted_at', 'email', 'id', 'invited_at', 'invited_by', 'role', 'status']);
      assert.deepEqual(TeamMember.properties.status.anyOf.map((s: { enum: string[] }) => s.enum[0]), ['pending', 'active']);
    });

    securitySuite(() => ctx, { method: 'POST', url: '/api/v1/teams', body: { name: 'Security' } });
    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/teams', roles: { allowed: ['admin', 'member', 'viewer'] } });
    securitySuite(() => ctx, { method: 'PATCH', url: '/api/v1/teams', body: { name: 'Renamed' }, roles: { allowed: ['admin'] } });
    securitySuite(() => ctx, { method: 'GET', url: '/api/v1/teams/members', roles: { allowed: ['admin', 'member', 'viewer'] } });
    securitySuite(() => ctx, {
      method: 'POST',
      url: '/api/v1/teams/members/invite',
      body: { email: 'security-invitee@example.com' },
      roles: { allowed: ['admin'] },
    });
    securitySuite(() => ctx, { method: 'POST', url: '/api/v1/teams/invitations/accept', body: { invite_token: 'neo_inv_nothing' } });
    securitySuite(() => ctx, {
      method: 'PATCH',
      url: '/api/v1/teams/members/role',
      body: { email: 'nobody-here@example.com', role: 'member' },
      roles: { allowed: ['admin'] },
    });
    securitySuite(() => ctx, {
      method: 'DELETE',
      url: '/api/v1/teams/members',
      body: { email: 'nobody-here@example.com' },
      roles: { allowed: ['admin'] },
    });
  });
}
