/** TypeBox schemas of the Teams endpoints (CONTRACT.md section 7). */
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../http/schemas.ts';
import { INVALID_TEXT } from '../../http/validation.ts';
import { EMAIL_RE } from '../users/users.repo.ts';

export const TeamRoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('member'), Type.Literal('viewer')], {
  description: 'Team role: admins manage the team and its BYOK settings; members and viewers use them.',
});

const TeamName = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'Team name, 1–100 characters after trimming surrounding whitespace.',
  examples: ['Security Research'],
});

// The address rule of the service (ASCII only, see normalizeEmail), with the surrounding
// whitespace the service trims, as the CLI does: a pasted " bob@corp.test " is accepted.
const Email = Type.String({
  minLength: 3,
  maxLength: 320,
  pattern: `^\\s*${EMAIL_RE.source.slice(1, -1)}\\s*$`,
  [INVALID_TEXT]: 'is not a valid email address',
  description: 'Compared case-insensitively; surrounding whitespace is trimmed. At most 254 characters after trimming.',
});

export const Team = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    member_count: Type.Integer({ minimum: 0, description: 'Active members (pending invitations not counted).' }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { $id: 'Team', additionalProperties: false },
);
export type Team = Static<typeof Team>;

export const TeamMember = Type.Object(
  {
    id: Uuid,
    email: Type.String(),
    role: TeamRoleSchema,
    status: Type.Union([Type.Literal('pending'), Type.Literal('active')], {
      description: '`pending`: invited, not yet accepted; `active`: a member.',
    }),
    invited_at: DateTime,
    accepted_at: Nullable(DateTime),
    invited_by: Nullable(Type.String(), { description: "The inviter's email; null for the team's creator." }),
  },
  { $id: 'TeamMember', additionalProperties: false },
);
export type TeamMember = Static<typeof TeamMember>;

/** Named component schemas (registered by the routes plugin, referenced by $ref). */
export const TEAMS_COMPONENT_SCHEMAS = [Team, TeamMember];
const TeamRef = Type.Unsafe<Team>(Type.Ref('Team'));
const TeamMemberRef = Type.Unsafe<TeamMember>(Type.Ref('TeamMember'));

export const TeamEnvelope = Type.Object({ team: TeamRef }, { additionalProperties: false });
export const MemberEnvelope = Type.Object({ member: TeamMemberRef }, { additionalProperties: false });
export const MembersList = Type.Object({ members: Type.Array(TeamMemberRef) }, { additionalProperties: false });
export const Invitation = Type.Object(
  {
    member: TeamMemberRef,
    invite_token: Type.String({
      description: 'Give it to the invitee, who accepts with POST /api/v1/teams/invitations/accept. Shown once; valid for 7 days.',
    }),
  },
  { additionalProperties: false },
);
export const Accepted = Type.Object({ member: TeamMemberRef, team: TeamRef }, { additionalProperties: false });
export const Removed = Type.Object(
  { removed: Type.Literal(true) },
  { additionalProperties: false },
);

export const CreateTeamBody = Type.Object({ name: TeamName }, { additionalProperties: false });
export const UpdateTeamBody = Type.Object({ name: TeamName }, { additionalProperties: false });
export const InviteBody = Type.Object(
  { email: Email, role: Type.Optional(Type.Union(TeamRoleSchema.anyOf, { description: 'Default `member`.' })) },
  { additionalProperties: false },
);
export const AcceptBody = Type.Object(
  { invite_token: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export const RoleBody = Type.Object({ email: Email, role: TeamRoleSchema }, { additionalProperties: false });
export const RemoveBody = Type.Object({ email: Email }, { additionalProperties: false });
