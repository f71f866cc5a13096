/**
 * The secrets of a local SQLite start. `ensureSecrets` (run by `neo-byok serve` and the CLI
 * before loadConfig) generates those the environment does not give into
 * `<data dir>/secrets.json` (mode 0600), once; loadConfig only reads that file. With
 * PostgreSQL nothing is generated: every instance must share the same secrets.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isPostgresUrl } from '../lib/database-url.ts';
import { ConfigError, processEnv, type Env } from './error.ts';
import { checkEnv, masterKey, type EnvValues } from './schema.ts';

/** In the order the PostgreSQL error names them. */
const SECRETS = [
  { key: 'master_key', env: 'NEO_MASTER_KEY', label: 'NEO_MASTER_KEY', make: () => randomBytes(32).toString('base64') },
  { key: 'jwt_secret', env: 'NEO_JWT_SECRET', label: 'NEO_JWT_SECRET (or NEO_JWT_JWKS_URL)', make: () => randomBytes(48).toString('base64url') },
  { key: 'internal_token', env: 'NEO_INTERNAL_TOKEN', label: 'NEO_INTERNAL_TOKEN', make: () => randomBytes(32).toString('base64url') },
] as const;
type StoredSecrets = Partial<Record<(typeof SECRETS)[number]['key'], string>>;

export const dataDirOf = (v: EnvValues) => resolve(process.cwd(), v.NEO_DATA_DIR);
const secretsFile = (v: EnvValues) => join(dataDirOf(v), 'secrets.json');

/** The secrets the environment does not give (a JWKS URL replaces the JWT secret). */
function missingSecrets(v: EnvValues) {
  return SECRETS.filter((s) => !v[s.env] && !(s.key === 'jwt_secret' && v.NEO_JWT_JWKS_URL));
}

/** secrets.json as stored ({} when absent), or why it cannot be used: a corrupt file is a problem, never replaced. */
function readSecrets(path: string): { stored: StoredSecrets; problem?: string } {
  if (!existsSync(path)) return { stored: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { stored: {}, problem: `${path} is not valid JSON` };
  }
  if (parsed && typeof parsed === 'object') return { stored: parsed };
  return { stored: {}, problem: `${path} is not a JSON object` };
}

/**
 * Generates the secrets that neither the environment nor secrets.json gives (SQLite only)
 * and returns their names, never their values. An invalid environment throws the same
 * ConfigError as loadConfig, before anything is written.
 */
export function ensureSecrets(env: Env = processEnv()): string[] {
  const { values: v, problems } = checkEnv(env);
  if (problems.size) throw new ConfigError([...problems.values(), ...resolveSecrets(v, problems).problems]);
  const missing = missingSecrets(v);
  // PostgreSQL: loadConfig refuses to start without them.
  if (!missing.length || isPostgresUrl(v.NEO_DATABASE_URL ?? '')) return [];
  const path = secretsFile(v);
  const { stored, problem } = readSecrets(path);
  if (problem) throw new ConfigError([problem]);
  const generated = missing.filter((s) => !stored[s.key]);
  if (!generated.length) return [];
  for (const s of generated) stored[s.key] = s.make();
  mkdirSync(dataDirOf(v), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return generated.map((s) => s.key);
}

/**
 * The environment checked in one pass, against the schema (schema.ts) and the rules about
 * secrets, with the three secrets from the environment or, for SQLite, from secrets.json
 * (read only). Throws one ConfigError listing every problem.
 */
export function readEnvAndSecrets(env: Env): { v: EnvValues; secrets: Secrets } {
  const { values: v, problems } = checkEnv(env);
  const secrets = resolveSecrets(v, problems);
  const all = [...problems.values(), ...secrets.problems];
  if (all.length) throw new ConfigError(all);
  return { v, secrets: secrets.secrets! };
}

type Secrets = { masterKey: Buffer; jwtSecret: string | undefined; internalToken: string };

/**
 * The secrets and what is wrong with them: PostgreSQL without them, a secret neither given
 * nor stored, a corrupt or wrong secrets.json. `wrong` holds the schema's problems by
 * variable: a rule that reads a wrong variable is not judged (that variable is already
 * named), and a SQLite secret neither given nor stored is not named while the environment
 * is wrong (ensureSecrets generates secrets only for a valid one).
 */
function resolveSecrets(v: EnvValues, wrong: Map<string, string>): { secrets?: Secrets; problems: string[] } {
  // Which database, hence which rules apply, is unknown.
  if (wrong.has('NEO_DATABASE_URL')) return { problems: [] };
  const missing = missingSecrets(v);
  if (missing.length && isPostgresUrl(v.NEO_DATABASE_URL ?? '')) {
    // Instances sharing a PostgreSQL database would each generate their own secrets: keys
    // sealed by one instance unreadable on the next, tokens valid on one instance only.
    return {
      problems: [
        `NEO_DATABASE_URL is PostgreSQL: set NEO_MASTER_KEY, NEO_JWT_SECRET (or NEO_JWT_JWKS_URL) and NEO_INTERNAL_TOKEN in the environment; every instance must share the same values, so they are never generated (missing: ${missing.map((s) => s.label).join(', ')}). Secrets are generated into the data dir only for a local SQLite database.`,
      ],
    };
  }
  const file = secretsFile(v);
  const { stored, problem } = missing.length ? readSecrets(file) : { stored: {} as StoredSecrets };
  if (problem) return { problems: [problem] };
  const problems: string[] = [];
  const absent = missing.filter((s) => !stored[s.key]);
  if (absent.length && !wrong.size) {
    problems.push(`${absent.map((s) => s.label).join(', ')} not set, and ${file} does not hold them: run \`neo-byok serve\` once (it generates them) or set them`);
  }
  // A value from the environment passed the schema; one from secrets.json is checked here.
  let key: Buffer | undefined;
  const rawKey = v.NEO_MASTER_KEY ?? stored.master_key;
  if (rawKey !== undefined && !wrong.has('NEO_MASTER_KEY')) {
    try {
      key = masterKey(rawKey);
    } catch (err) {
      problems.push(`${file} master_key ${(err as Error).message}`);
    }
  }
  const jwtSecret = v.NEO_JWT_JWKS_URL ? undefined : (v.NEO_JWT_SECRET ?? stored.jwt_secret);
  if (jwtSecret !== undefined && !wrong.has('NEO_JWT_SECRET') && jwtSecret.length < 32) problems.push(`${file} jwt_secret is too short`);
  if (problems.length || wrong.size) return { problems };
  return { problems, secrets: { masterKey: key!, jwtSecret, internalToken: v.NEO_INTERNAL_TOKEN ?? stored.internal_token! } };
}
