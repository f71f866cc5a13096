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
import { masterKey, readEnv, type EnvValues } from './schema.ts';

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

/** secrets.json as stored ({} when absent); a corrupt file is a ConfigError, never replaced. */
function readSecrets(path: string): StoredSecrets {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new ConfigError([`${path} is not valid JSON`]);
  }
  if (parsed && typeof parsed === 'object') return parsed;
  throw new ConfigError([`${path} is not a JSON object`]);
}

/**
 * Generates the secrets that neither the environment nor secrets.json gives (SQLite only)
 * and returns their names, never their values. An invalid environment throws the same
 * ConfigError as loadConfig, before anything is written.
 */
export function ensureSecrets(env: Env = processEnv()): string[] {
  const v = readEnv(env);
  const missing = missingSecrets(v);
  // PostgreSQL: loadConfig refuses to start without them.
  if (!missing.length || isPostgresUrl(v.NEO_DATABASE_URL ?? '')) return [];
  const path = secretsFile(v);
  const stored = readSecrets(path);
  const generated = missing.filter((s) => !stored[s.key]);
  if (!generated.length) return [];
  for (const s of generated) stored[s.key] = s.make();
  mkdirSync(dataDirOf(v), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return generated.map((s) => s.key);
}

/**
 * The three secrets from the environment or, for SQLite, from secrets.json (read only).
 * PostgreSQL without them, or a secret neither given nor stored, is a ConfigError.
 */
export function resolveSecrets(v: EnvValues): { masterKey: Buffer; jwtSecret: string | undefined; internalToken: string } {
  const missing = missingSecrets(v);
  if (missing.length && isPostgresUrl(v.NEO_DATABASE_URL ?? '')) {
    // Instances sharing a PostgreSQL database would each generate their own secrets: keys
    // sealed by one instance unreadable on the next, tokens valid on one instance only.
    throw new ConfigError([
      `NEO_DATABASE_URL is PostgreSQL: set NEO_MASTER_KEY, NEO_JWT_SECRET (or NEO_JWT_JWKS_URL) and NEO_INTERNAL_TOKEN in the environment; every instance must share the same values, so they are never generated (missing: ${missing.map((s) => s.label).join(', ')}). Secrets are generated into the data dir only for a local SQLite database.`,
    ]);
  }
  const file = secretsFile(v);
  const stored = missing.length ? readSecrets(file) : {};
  const absent = missing.filter((s) => !stored[s.key]);
  if (absent.length) {
    throw new ConfigError([`${absent.map((s) => s.label).join(', ')} not set, and ${file} does not hold them: run \`neo-byok serve\` once (it generates them) or set them`]);
  }
  const problems: string[] = [];
  let key: Buffer | undefined;
  try {
    key = masterKey(v.NEO_MASTER_KEY ?? stored.master_key!);
  } catch (err) {
    problems.push(`${file} master_key ${(err as Error).message}`);
  }
  const jwtSecret = v.NEO_JWT_JWKS_URL ? undefined : (v.NEO_JWT_SECRET ?? stored.jwt_secret!);
  if (jwtSecret !== undefined && jwtSecret.length < 32) problems.push(`${file} jwt_secret is too short`);
  if (problems.length) throw new ConfigError(problems);
  return { masterKey: key!, jwtSecret, internalToken: v.NEO_INTERNAL_TOKEN ?? stored.internal_token! };
}
