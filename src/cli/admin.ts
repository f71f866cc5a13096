/**
 * `neo-byok admin …`: platform administration from the command line. Every command
 * opens the same configuration and database as `serve` (see runtime.ts), so it works on
 * the data dir of a running server; SQLite writes wait for the server's write lock.
 */
import { SignJWT } from 'jose';
import { nowIso, isUniqueViolation, type Db } from '../db/index.ts';
import type { SystemRole, UserRow } from '../db/schema.ts';
import type { Owner } from '../modules/auth/owner.ts';
import { FEATURES, FeaturesService, type FeatureName } from '../modules/features/features.service.ts';
import { TeamsRepo } from '../modules/teams/teams.repo.ts';
import { EMAIL_RE, normalizeEmail, UsersRepo } from '../modules/users/users.repo.ts';
import { CliError, type CliIo } from './io.ts';
import type { Runtime } from './runtime.ts';

/** Shortest and longest token lifetime `admin token --ttl` accepts. */
export const TTL_MIN_SECONDS = 60;
export const TTL_MAX_SECONDS = 30 * 24 * 3600;
const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses a lifetime like `90s`, `30m`, `1h`, `7d` into seconds (1 minute to 30 days). */
export function parseTtl(value: string): number {
  const m = /^(\d{1,7})([smhd])$/.exec(value.trim());
  if (!m) throw new CliError(`--ttl must look like 30m, 1h or 7d (got "${value.slice(0, 40)}")`, 2);
  const seconds = Number(m[1]) * TTL_UNITS[m[2]!]!;
  if (seconds < TTL_MIN_SECONDS || seconds > TTL_MAX_SECONDS) {
    throw new CliError(`--ttl must be between 1m and 30d (got "${value}")`, 2);
  }
  return seconds;
}

/** Validates and normalizes `--email` (trimmed, lower-cased). */
export function parseEmail(value: string | boolean | undefined): string {
  if (typeof value !== 'string' || value.trim() === '') throw new CliError('--email is required', 2);
  const email = normalizeEmail(value);
  if (email.length > 254 || !EMAIL_RE.test(email)) throw new CliError(`--email is not a valid email address: "${value.slice(0, 80)}"`, 2);
  return email;
}

/** Parses `byok=on` style assignments; every feature must be known and named once. */
export function parseFeatureAssignments(args: string[]): Partial<Record<FeatureName, boolean>> {
  if (args.length === 0) throw new CliError(`name a flag to set, e.g. byok=on (known flags: ${FEATURES.join(', ')})`, 2);
  const out: Partial<Record<FeatureName, boolean>> = {};
  for (const arg of args) {
    const m = /^([a-z_]+)=(on|off|true|false)$/.exec(arg);
    if (!m) throw new CliError(`expected <flag>=on|off, got "${arg.slice(0, 60)}"`, 2);
    const name = m[1]!;
    if (!(FEATURES as readonly string[]).includes(name)) {
      throw new CliError(`unknown flag "${name}" (known flags: ${FEATURES.join(', ')})`, 2);
    }
    if (name in out) throw new CliError(`flag "${name}" is given twice`, 2);
    out[name as FeatureName] = m[2] === 'on' || m[2] === 'true';
  }
  return out;
}

export interface EnsuredUser {
  user: UserRow;
  created: boolean;
}

/**
 * Finds the user with this email or creates it (system role `role`). A user created here
 * has no identity-provider subject yet; the first JWT carrying the same email binds one.
 */
export async function ensureUser(db: Db, email: string, role: SystemRole = 'user'): Promise<EnsuredUser> {
  const users = new UsersRepo(db);
  const existing = await users.findByEmail(email);
  if (existing) return { user: existing, created: false };
  try {
    return { user: await users.create({ email, sub: null, role }, nowIso()), created: true };
  } catch (err) {
    // The server provisioned the same email between our read and our insert.
    if (isUniqueViolation(err)) {
      const again = await users.findByEmail(email);
      if (again) return { user: again, created: false };
    }
    throw err;
  }
}

/** `admin user create`: idempotent; `--admin` promotes an existing user, never demotes. */
export async function createUser(rt: Runtime, email: string, admin: boolean) {
  const { user, created } = await ensureUser(rt.database.db, email, admin ? 'admin' : 'user');
  let role = user.role;
  if (!created && admin && user.role !== 'admin') {
    await new UsersRepo(rt.database.db).setRole(user.id, 'admin', nowIso());
    rt.bus.publish('user', user.id);
    role = 'admin';
  }
  return { id: user.id, email: user.email, role, created };
}

/** The subject the CLI binds to a user that has none: stable and derived from the id. */
export const cliSubject = (userId: string): string => `neo|${userId}`;

/**
 * `admin token`: signs an HS256 JWT with the server's secret for the user with this
 * email (created if new). A user without a subject gets `neo|<id>` bound first, exactly
 * what the server would bind on the first request, so the token works at once.
 */
export async function mintToken(rt: Runtime, email: string, ttlSeconds: number) {
  const { jwt } = rt.config;
  if (jwt.jwksUrl || !jwt.secret) {
    throw new CliError(
      'the server verifies tokens with NEO_JWT_JWKS_URL (an identity provider signs them); the CLI cannot mint tokens it would accept. Get a token from your identity provider, or use an API key.',
    );
  }
  const users = new UsersRepo(rt.database.db);
  const { user, created } = await ensureUser(rt.database.db, email);
  let sub = user.sub;
  if (sub === null) {
    const wanted = cliSubject(user.id);
    await users.bindSub(user.id, wanted, nowIso());
    // Re-read: a concurrent first login may have bound the identity provider's subject.
    sub = (await users.findById(user.id))?.sub ?? null;
    if (sub === null) throw new CliError(`could not bind a subject to ${email}`);
  }
  const now = Math.floor(Date.now() / 1000);
  const exp = now + ttlSeconds;
  let signer = new SignJWT({ email: user.email })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(exp);
  if (jwt.issuer) signer = signer.setIssuer(jwt.issuer);
  if (jwt.audience) signer = signer.setAudience(jwt.audience);
  const token = await signer.sign(jwt.secret);
  return { token, user_id: user.id, email: user.email, created, expires_at: new Date(exp * 1000).toISOString() };
}

/** `admin features set`: stores flags for a user (solo settings) or a team and prints the result. */
export async function setFeatures(
  rt: Runtime,
  target: { email?: string; teamId?: string },
  assignments: Partial<Record<FeatureName, boolean>>,
) {
  const db = rt.database.db;
  const teams = new TeamsRepo(db, rt.database.dialect);
  let owner: Owner;
  let note: string | undefined;
  let label: Record<string, string>;
  if (target.email !== undefined) {
    const user = await new UsersRepo(db).findByEmail(target.email);
    if (!user) throw new CliError(`no user with email ${target.email}; create it first with \`neo-byok admin user create --email ${target.email}\``);
    owner = { type: 'user', id: user.id };
    label = { email: user.email };
    const m = await teams.activeMembership(user.id);
    if (m) {
      note = `${user.email} is a member of team ${m.team_id}: the team's flags apply while they are in it; set them with --team-id ${m.team_id}`;
    }
  } else {
    const team = await teams.teamName(target.teamId!);
    if (!team) throw new CliError(`no team with id ${target.teamId!.slice(0, 80)}`);
    owner = { type: 'team', id: team.id };
    label = { name: team.name };
  }
  // set() publishes on the `owner` topic: through rt.bus running servers on PostgreSQL
  // or Redis drop their cached flags at once; a server on SQLite notices the commit
  // (data_version, SqliteWatchBus) on its next request.
  const features = new FeaturesService({ db, dialect: rt.database.dialect, bus: rt.bus, defaults: { byok: rt.config.byokDefault } });
  for (const [name, enabled] of Object.entries(assignments) as [FeatureName, boolean][]) {
    await features.set(owner, name, enabled);
  }
  return {
    owner: { type: owner.type, id: owner.id, ...label },
    features: await features.forOwner(owner),
    ...(note ? { note } : {}),
  };
}

/** A team id is a UUID; anything else is refused before touching the database. */
export function parseTeamId(value: string | boolean | undefined): string {
  if (typeof value !== 'string' || value.trim() === '') throw new CliError('--team-id needs a value', 2);
  const id = value.trim();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    throw new CliError(`--team-id must be a team's UUID (got "${id.slice(0, 80)}")`, 2);
  }
  return id.toLowerCase();
}

/**
 * `admin keys recheck`: makes the keys of one owner (or all keys) due and runs the
 * re-checks here, through the server's own services (buildApp without listening or
 * scheduling), so checks, hysteresis, audit and outbox rows are exactly the server's.
 */
export async function recheckKeys(rt: Runtime, io: CliIo, target: { email?: string; teamId?: string }) {
  const db = rt.database.db;
  let owner: Owner | null = null;
  if (target.email !== undefined) {
    const user = await new UsersRepo(db).findByEmail(target.email);
    if (!user) throw new CliError(`no user with email ${target.email}`);
    owner = { type: 'user', id: user.id };
  } else if (target.teamId !== undefined) {
    const team = await new TeamsRepo(db, rt.database.dialect).teamName(target.teamId);
    if (!team) throw new CliError(`no team with id ${target.teamId.slice(0, 80)}`);
    owner = { type: 'team', id: team.id };
  }
  const { buildApp } = await import('../app.ts');
  const config = { ...rt.config, keyHealth: { ...rt.config.keyHealth, scheduler: false } };
  const app = await buildApp({ config, database: rt.database, bus: rt.bus, quiet: true });
  try {
    const health = app.services.keyHealth;
    const requested = new Set(await health.requestAll(owner));
    let done = 0;
    const progress = (id: string) => {
      if (!requested.has(id)) return;
      done++;
      if (io.isTTY) io.stderr(`\rre-checked ${done}/${requested.size}`);
      else if (done === requested.size || done % 100 === 0) io.stderr(`re-checked ${done}/${requested.size}\n`);
    };
    const checked = (await health.runDue(Number.POSITIVE_INFINITY, progress)).filter((id) => requested.has(id));
    if (io.isTTY && requested.size) io.stderr('\n');
    // The statuses of the keys asked about (the owner's, or all), counted by the database.
    const statuses = await health.statusCounts(owner);
    return { requested: requested.size, checked: checked.length, deferred: requested.size - checked.length, statuses };
  } finally {
    await app.close();
  }
}
