/**
 * The command table of `neo-byok`. Each command has a summary, a --help text and a runner.
 * A runner loads what it needs on demand (`await import`): the table and the help texts
 * load no database driver, HTTP or JWT library, so `--help` starts fast.
 */
import { CliError, type CliIo, type Command, parseArgs, printJson } from './io.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { ROTATE_HELP, rotateMasterKeyCommand } from './rotate-master-key.ts';
import { dumpCommands } from './dump.ts';

/** Here, not in oidc.ts: the help loads no JWT or database module. */
const OIDC_ROTATE_HELP = `Usage: neo-byok admin oidc rotate-key [--grace 24h]

Makes a new RS256 signing key for the service's OpenID Connect issuer (NEO_OIDC_ISSUER)
and prints {"kid", "signs_from", "previous", "removed"}. The new public key is in the
JWKS at once (running servers see it within 30 s; on SQLite at their next request) and
signs tokens from signs_from, 6 minutes later, once clouds that keep the JWKS for its
max-age (5 minutes) know it; until then the previous key signs. The previous public key
stays in the JWKS for --grace after signs_from (a duration with unit m, h or d; default
24h, at least 15m, at most 30d), so tokens it signed keep verifying until they expire.
Retired keys whose grace has ended are deleted. The private key is stored sealed by
NEO_MASTER_KEY. Nothing in the clouds needs to change: they fetch the JWKS again.`;


export const commands: Command[] = [
  {
    path: ['serve'],
    summary: 'Start the HTTP server (what `npm start` runs)',
    help: `Usage: neo-byok serve

Starts the API server and the settings page. Configuration comes from the environment
(see docs/configuration.md): PORT, HOST, NEO_DATA_DIR, NEO_DATABASE_URL, ...
SIGTERM or SIGINT stops accepting connections, finishes in-flight requests and exits 0.`,
    run: async (argv, io) => {
      noPositional(parseArgs(argv, {}).positional);
      // Loaded on demand: the other commands need neither the HTTP app nor its modules.
      const { serveCommand } = await import('./serve.ts');
      return serveCommand(io);
    },
  },
  {
    path: ['migrate'],
    summary: 'Apply pending database migrations and exit',
    help: `Usage: neo-byok migrate

Applies every pending migration to NEO_DATABASE_URL (SQLite or PostgreSQL) and prints
{"applied": [names]}. Safe to run while servers are up and from several hosts at once.`,
    run: async (argv, io) => {
      noPositional(parseArgs(argv, {}).positional);
      const rt = await openRuntime(io, { migrate: false });
      const { migrateToLatest } = await import('../db/index.ts');
      try {
        const applied = await migrateToLatest(rt.database.db);
        printJson(io, { applied });
        return 0;
      } finally {
        await rt.close();
      }
    },
  },
  {
    path: ['admin', 'user', 'create'],
    summary: 'Create a user (or show the existing one)',
    help: `Usage: neo-byok admin user create --email <email> [--admin]

Creates the user with this email and prints {"id", "email", "role", "created"}.
Idempotent: when the user exists it is printed with "created": false (exit 0).
--admin gives the user the platform role admin (an existing user is promoted;
the command never demotes anyone).`,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { email: 'string', admin: 'boolean' });
      noPositional(positional);
      const { createUser, parseEmail } = await import('./admin.ts');
      const email = parseEmail(flags.email);
      return withRuntime(io, { bus: true }, async (rt) => {
        printJson(io, await createUser(rt, email, flags.admin === true));
        return 0;
      });
    },
  },
  {
    path: ['admin', 'token'],
    summary: 'Mint a JWT for a user (created if new)',
    help: `Usage: neo-byok admin token --email <email> [--ttl 1h]

Prints {"token", "user_id", "email", "created", "expires_at"}: an HS256 JWT signed
with the server's secret (NEO_JWT_SECRET, or the one generated in the data dir), for
Authorization: Bearer <token>. The user is created if new. --ttl is a number with a
unit s, m, h or d (default 1h, at least 1m, at most 30d). Refused when the server is
configured with NEO_JWT_JWKS_URL: then only the identity provider issues tokens.`,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { email: 'string', ttl: 'string' });
      noPositional(positional);
      const { mintToken, parseEmail, parseTtl } = await import('./admin.ts');
      const email = parseEmail(flags.email);
      const ttl = parseTtl(typeof flags.ttl === 'string' ? flags.ttl : '1h');
      return withRuntime(io, {}, async (rt) => {
        printJson(io, await mintToken(rt, email, ttl));
        return 0;
      });
    },
  },
  {
    path: ['admin', 'features', 'set'],
    summary: 'Turn feature flags (byok) on or off for a user or a team',
    help: `Usage: neo-byok admin features set (--email <email> | --team-id <uuid>) byok=on|off

Stores the flag for a solo user's own settings (--email) or for a team (--team-id)
and prints {"owner", "features"}. A team's flag applies to all its members; for a
user who is in a team the output carries a "note" saying so. Servers on PostgreSQL
or with NEO_REDIS_URL see the change at once (cache bus); a server on SQLite notices
the other process's commit on its next request.`,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { email: 'string', 'team-id': 'string' });
      if ((flags.email === undefined) === (flags['team-id'] === undefined)) {
        throw new CliError('give exactly one of --email or --team-id', 2);
      }
      const { parseEmail, parseFeatureAssignments, parseTeamId, setFeatures } = await import('./admin.ts');
      const target = flags.email !== undefined ? { email: parseEmail(flags.email) } : { teamId: parseTeamId(flags['team-id']) };
      const assignments = parseFeatureAssignments(positional);
      return withRuntime(io, { bus: true }, async (rt) => {
        printJson(io, await setFeatures(rt, target, assignments));
        return 0;
      });
    },
  },
  {
    path: ['admin', 'keys', 'recheck'],
    summary: 'Re-check stored provider keys with their providers now',
    help: `Usage: neo-byok admin keys recheck (--email <email> | --team-id <uuid> | --all)

Makes the stored provider keys of a solo user (--email), of a team (--team-id) or of
every owner (--all) due for a re-check, runs the re-checks in this process (the same
checks, hysteresis and events as the scheduler; docs/key-health.md), prints progress
on stderr and {"requested", "checked", "deferred", "statuses"} on stdout. A key whose
owner reached the provider-call rate limit is deferred: the scheduler of a running
server checks it within a minute or so. Servers on PostgreSQL or with NEO_REDIS_URL
see new statuses at once; a server on SQLite on its next request.`,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { email: 'string', 'team-id': 'string', all: 'boolean' });
      noPositional(positional);
      const given = [flags.email !== undefined, flags['team-id'] !== undefined, flags.all === true].filter(Boolean).length;
      if (given !== 1) throw new CliError('give exactly one of --email, --team-id or --all', 2);
      const { parseEmail, parseTeamId, recheckKeys } = await import('./admin.ts');
      const target = flags.all === true ? {} : flags.email !== undefined ? { email: parseEmail(flags.email) } : { teamId: parseTeamId(flags['team-id']) };
      return withRuntime(io, { bus: true }, async (rt) => {
        printJson(io, await recheckKeys(rt, io, target));
        return 0;
      });
    },
  },
  {
    path: ['admin', 'rotate-master-key'],
    summary: 'Rewrap every data key under a new master key (online, resumable)',
    help: ROTATE_HELP,
    run: rotateMasterKeyCommand,
  },
  {
    path: ['admin', 'oidc', 'rotate-key'],
    summary: "Rotate the signing key of the service's OpenID Connect issuer",
    help: OIDC_ROTATE_HELP,
    run: async (argv, io) => {
      const { flags, positional } = parseArgs(argv, { grace: 'string' });
      noPositional(positional);
      const { parseGrace, rotateOidcKeyCommand } = await import('./oidc.ts');
      const graceMs = parseGrace(flags.grace);
      return withRuntime(io, {}, async (rt) => {
        printJson(io, await rotateOidcKeyCommand(rt, graceMs));
        return 0;
      });
    },
  },
  ...dumpCommands,
];

function noPositional(positional: string[]): void {
  if (positional.length) throw new CliError(`unexpected argument "${positional[0]!.slice(0, 60)}"`, 2);
}

async function withRuntime(io: CliIo, options: RuntimeOptions, fn: (rt: Runtime) => Promise<number>): Promise<number> {
  const rt = await openRuntime(io, options);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
