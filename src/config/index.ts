/**
 * Configuration: the only module that reads the environment.
 *
 * `loadConfig(env)` validates everything once and throws a `ConfigError` that lists every
 * problem at once. Secrets that are not given are generated once into
 * `<data dir>/secrets.json` (mode 0600) and reused on every start, for SQLite only: with
 * PostgreSQL every instance must share them, so they must come from the environment.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const KEY_PROVIDER_URL_VARS = {
  openai: 'NEO_PROVIDER_URL_OPENAI',
  anthropic: 'NEO_PROVIDER_URL_ANTHROPIC',
  google: 'NEO_PROVIDER_URL_GOOGLE',
  xai: 'NEO_PROVIDER_URL_XAI',
  openrouter: 'NEO_PROVIDER_URL_OPENROUTER',
  'vercel-gateway': 'NEO_PROVIDER_URL_VERCEL_GATEWAY',
  'google-vertex': 'NEO_PROVIDER_URL_GOOGLE_VERTEX',
  'google-oauth': 'NEO_PROVIDER_URL_GOOGLE_OAUTH',
  'amazon-bedrock': 'NEO_PROVIDER_URL_AMAZON_BEDROCK',
  'aws-sts': 'NEO_PROVIDER_URL_AWS_STS',
  // Keyless cloud connections (docs/keyless-cloud.md): the token exchanges.
  'google-sts': 'NEO_PROVIDER_URL_GOOGLE_STS',
  'google-iam-credentials': 'NEO_PROVIDER_URL_GOOGLE_IAM_CREDENTIALS',
  'azure-login': 'NEO_PROVIDER_URL_AZURE_LOGIN',
} as const;
export type ProviderUrlName = keyof typeof KEY_PROVIDER_URL_VARS;

export interface JwtConfig {
  /** HS256 shared secret (bytes), when JWKS is not configured. */
  secret?: Uint8Array;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /**
   * Accept a first token without an `email_verified` claim as verified (identity
   * providers that verify every address and omit the claim). Off by default; an
   * explicit `false` is always refused.
   */
  allowMissingEmailVerified?: boolean;
}

export interface RateLimitConfig {
  enabled: boolean;
  /** Writes per principal per window. */
  writesPerMinute: number;
  /** Provider-calling operations (validate, key save) per principal per window. */
  providerCallsPerMinute: number;
  /** Failed authentications per client IP per window. */
  authFailuresPerMinute: number;
}

/**
 * Load shedding (@fastify/under-pressure, docs/configuration.md): while a threshold is
 * exceeded, requests get 503 `unavailable` with Retry-After instead of queueing. 0 turns
 * a threshold off.
 */
export interface OverloadConfig {
  /** Mean event-loop delay (ms) over a sample interval above which requests are refused. */
  maxEventLoopDelayMs: number;
  /** V8 heap in use (MB) above which requests are refused. */
  maxHeapUsedMb: number;
  /** Resident memory (MB) above which requests are refused. */
  maxRssMb: number;
  /** How often the figures are sampled (ms); the shortest time a refusal lasts. */
  sampleIntervalMs: number;
  /** Retry-After (s) on the 503. */
  retryAfterS: number;
}

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** `sqlite:<path>` / plain path, `:memory:`, or `postgres://…`. */
  databaseUrl: string;
  databasePoolSize: number;
  /** PostgreSQL session limits in ms (statement_timeout, lock_timeout, idle_in_transaction_session_timeout). */
  databaseTimeouts: { statementTimeoutMs: number; lockTimeoutMs: number; idleInTransactionTimeoutMs: number };
  logLevel: LogLevel;
  jwt: JwtConfig;
  /** 32-byte master key (current). */
  masterKey: Buffer;
  /** Previous master key, accepted for unwrapping during a rotation. */
  masterKeyPrevious?: Buffer;
  internalToken: string;
  byokDefault: boolean;
  providerUrls: Partial<Record<ProviderUrlName, string>>;
  /** Test-only extra hosts an Azure endpoint may use (e.g. 127.0.0.1). */
  azureAllowedHosts: string[];
  /** Outbound provider check timeout in ms (5–10 s by policy). */
  providerTimeoutMs: number;
  redisUrl?: string;
  corsOrigins: string[];
  rateLimit: RateLimitConfig;
  overload: OverloadConfig;
  /**
   * Fastify's `trustProxy`: false (use the socket address), true (trust every proxy:
   * the client picks its own IP), a hop count, or trusted proxy addresses/CIDRs.
   */
  trustProxy: TrustProxy;
  keyHealth: KeyHealthConfig;
  webhooks: WebhooksConfig;
  /** Which secrets were generated into the data dir on this start (names only). */
  generatedSecrets: string[];
  /** Open HTTP connections accepted at once (server.maxConnections); more are refused. */
  maxConnections: number;
  /** NEO_OIDC_ISSUER: the public base URL of this deployment as an OpenID Connect issuer (docs/keyless-cloud.md); unset turns keyless cloud connections off. */
  oidcIssuer?: string;
}

export type TrustProxy = boolean | number | string[];

/** Key health (docs/key-health.md). */
export interface KeyHealthConfig {
  /** NEO_KEY_INVALID_AFTER: how far apart two rejections must be before a key is invalid. */
  invalidAfterMs: number;
  /** NEO_KEY_RECHECK_INTERVAL: time between two scheduled re-checks of a key (±10 % jitter). */
  recheckIntervalMs: number;
  /** NEO_KEY_RECHECK_CONCURRENCY: provider checks one instance runs at once. */
  recheckConcurrency: number;
  /** NEO_KEY_RECHECK: whether this instance runs the re-check scheduler (default on). */
  scheduler: boolean;
}

/** Webhooks (docs/webhooks.md). */
export interface WebhooksConfig {
  /**
   * NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: `host:port` pairs (lower case) whose webhook URLs may
   * use plain http and skip the address checks (tests, local receivers).
   */
  allowedHttpHosts: string[];
  /** NEO_WEBHOOK_RETRY_SCHEDULE: the delay before each retry, in ms (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). */
  retryScheduleMs: number[];
  /** NEO_WEBHOOK_DELIVERY: whether this instance runs the delivery worker (default on). */
  worker: boolean;
}

export const DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

/** NEO_WEBHOOK_RETRY_SCHEDULE: comma-separated seconds (1 to 20 entries, each 1 s to 2 days). */
function retryScheduleVar(env: Env, name: string, problems: string[]): number[] {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS;
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length > 20 || parts.some((p) => !/^\d{1,6}$/.test(p) || Number(p) < 1 || Number(p) > 172_800)) {
    problems.push(`${name} must be 1 to 20 comma-separated whole numbers of seconds, each from 1 to 172800 (got "${raw.slice(0, 60)}")`);
    return DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS;
  }
  return parts.map((p) => Number(p) * 1000);
}

/** NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: comma-separated `host:port` pairs. */
function hostPortListVar(env: Env, name: string, problems: string[]): string[] {
  const entries = (env[name] ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const out: string[] = [];
  const bad: string[] = [];
  for (const e of entries) {
    // The same canonical form safe-http.ts compares URLs with (`[::1]:8080`, `127.0.0.1:9000`).
    const n = normalizeAllowedHttpHost(e);
    if (n === undefined) bad.push(`"${e.slice(0, 60)}"`);
    else out.push(n);
  }
  if (bad.length) problems.push(`${name} must be comma-separated host:port pairs such as 127.0.0.1:9000 (a port is required); not valid: ${bad.join(', ')}`);
  return out;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

interface StoredSecrets {
  jwt_secret?: string;
  master_key?: string;
  internal_token?: string;
}

function readStoredSecrets(path: string, problems: string[]): StoredSecrets {
  if (!existsSync(path)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed && typeof parsed === 'object') return parsed;
    problems.push(`${path} is not a JSON object`);
  } catch {
    problems.push(`${path} is not valid JSON`);
  }
  return {};
}

function intVar(env: Env, name: string, def: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name} must be a whole number (got "${raw.slice(0, 40)}")`);
    return def;
  }
  const n = Number(raw);
  if (n < min || n > max) problems.push(`${name} must be between ${min} and ${max} (got ${n})`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like `30s`, `500ms`, `5m`, `24h` or `7d`, in milliseconds, between min and max. */
function durationVar(env: Env, name: string, def: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) {
    problems.push(`${name} must be a duration such as 30s, 5m or 24h (got "${raw.slice(0, 40)}")`);
    return def;
  }
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!;
  if (ms < min || ms > max) problems.push(`${name} must be between ${min} ms and ${max} ms (got ${ms} ms)`);
  return ms;
}

function boolVar(env: Env, name: string, def: boolean, problems: string[]): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  problems.push(`${name} must be on or off (got "${raw.slice(0, 40)}")`);
  return def;
}

function urlVar(env: Env, name: string, problems: string[], protocols = ['http:', 'https:']): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    const u = new URL(raw);
    if (!protocols.includes(u.protocol)) {
      problems.push(`${name} must use ${protocols.join(' or ')} (got ${u.protocol})`);
      return undefined;
    }
    return raw.replace(/\/+$/, '');
  } catch {
    problems.push(`${name} is not a valid URL`);
    return undefined;
  }
}

const LOOPBACK_ISSUER_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * NEO_OIDC_ISSUER: an absolute https URL without query, fragment or credentials (clouds
 * fetch `<issuer>/.well-known/openid-configuration` and compare `iss` with it exactly);
 * plain http only on a loopback host (127.0.0.1, localhost, [::1]) for local tests, as
 * no cloud would accept it. Returned without a trailing slash.
 */
export function parseOidcIssuer(raw: string | undefined, name: string, problems: string[]): string | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    problems.push(`${name} must be the public https URL of this service, e.g. https://byok.example.com (got "${raw.slice(0, 80)}")`);
    return undefined;
  }
  if (u.protocol === 'http:' && !LOOPBACK_ISSUER_HOSTS.has(u.hostname)) {
    problems.push(`${name} must use https (clouds fetch the issuer's keys over https only); plain http is accepted only for http://127.0.0.1:<port> or http://localhost:<port> in local tests (got "${raw.slice(0, 80)}")`);
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    problems.push(`${name} must be an https URL (got ${u.protocol})`);
    return undefined;
  }
  if (u.search || u.hash || u.username || u.password) {
    problems.push(`${name} must not carry a query, a fragment or credentials (got "${raw.slice(0, 80)}")`);
    return undefined;
  }
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
}

/** True for a `postgres://` or `postgresql://` NEO_DATABASE_URL. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** Decodes a base64 master key and checks it is 32 bytes. */
export function parseMasterKey(value: string, name: string, problems: string[]): Buffer | undefined {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    problems.push(`${name} must be base64 (32 bytes)`);
    return undefined;
  }
  const buf = Buffer.from(trimmed, 'base64');
  if (buf.length !== 32) {
    problems.push(`${name} must decode to 32 bytes (got ${buf.length})`);
    return undefined;
  }
  return buf;
}

/** proxy-addr's named ranges, accepted by Fastify's trustProxy beside addresses and CIDRs. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * NEO_TRUST_PROXY: `on`/`off` (also true/false, yes/no), a hop count (`1` = the one
 * proxy in front; `0` = off), or a comma-separated list of trusted proxy addresses,
 * CIDRs and proxy-addr range names. Every bad entry is listed.
 */
function trustProxyVar(env: Env, name: string, problems: string[]): TrustProxy {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return false;
  const v = raw.toLowerCase();
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 100) {
      problems.push(`${name} as a hop count must be between 0 and 100 (got ${raw.slice(0, 40)})`);
      return false;
    }
    return hops === 0 ? false : hops;
  }
  const entries = raw.split(',').map((e) => e.trim());
  const bad: string[] = [];
  for (const e of entries) {
    if (e === '') bad.push('(empty entry)');
    else if (!PROXY_RANGE_NAMES.includes(e.toLowerCase()) && !isAddressOrCidr(e)) bad.push(`"${e.slice(0, 60)}"`);
  }
  if (bad.length) {
    problems.push(
      `${name} must be on, off, a hop count, or a comma-separated list of proxy IP addresses or CIDRs (e.g. 10.0.0.0/8); not valid: ${bad.join(', ')}`,
    );
    return false;
  }
  return entries.map((e) => (PROXY_RANGE_NAMES.includes(e.toLowerCase()) ? e.toLowerCase() : e));
}

function isAddressOrCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return isIP(value) !== 0;
  const family = isIP(value.slice(0, slash));
  const prefix = value.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export interface LoadOptions {
  /** Do not generate missing secrets (used by read-only CLI paths). Default false. */
  noGenerate?: boolean;
}

/** Validates the environment once; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env, options: LoadOptions = {}): Config {
  const problems: string[] = [];
  const port = intVar(env, 'PORT', 8080, 0, 65535, problems);
  const host = env.HOST && env.HOST !== '' ? env.HOST : '127.0.0.1';
  const dataDirRaw = env.NEO_DATA_DIR && env.NEO_DATA_DIR !== '' ? env.NEO_DATA_DIR : './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(process.cwd(), dataDirRaw);

  let logLevel: LogLevel = 'info';
  if (env.NEO_LOG_LEVEL) {
    if ((LOG_LEVELS as readonly string[]).includes(env.NEO_LOG_LEVEL)) logLevel = env.NEO_LOG_LEVEL as LogLevel;
    else problems.push(`NEO_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }

  let databaseUrl = env.NEO_DATABASE_URL && env.NEO_DATABASE_URL !== '' ? env.NEO_DATABASE_URL : '';
  if (databaseUrl && !/^(postgres(ql)?:\/\/|sqlite:|:memory:$|\/|\.)/.test(databaseUrl)) {
    problems.push('NEO_DATABASE_URL must be postgres://…, postgresql://…, sqlite:<path> or a file path');
  }
  const databasePoolSize = intVar(env, 'NEO_DATABASE_POOL_SIZE', 10, 1, 500, problems);
  const databaseTimeouts = {
    statementTimeoutMs: intVar(env, 'NEO_DATABASE_STATEMENT_TIMEOUT_MS', 15_000, 100, 3_600_000, problems),
    lockTimeoutMs: intVar(env, 'NEO_DATABASE_LOCK_TIMEOUT_MS', 5_000, 100, 3_600_000, problems),
    idleInTransactionTimeoutMs: intVar(env, 'NEO_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 15_000, 100, 3_600_000, problems),
  };

  const jwksUrl = urlVar(env, 'NEO_JWT_JWKS_URL', problems);
  const issuer = env.NEO_JWT_ISSUER || undefined;
  const audience = env.NEO_JWT_AUDIENCE || undefined;
  if (jwksUrl && env.NEO_JWT_SECRET) {
    problems.push('set NEO_JWT_SECRET or NEO_JWT_JWKS_URL, not both');
  }
  if (env.NEO_JWT_SECRET !== undefined && env.NEO_JWT_SECRET !== '' && env.NEO_JWT_SECRET.length < 32) {
    problems.push('NEO_JWT_SECRET must be at least 32 characters');
  }

  let masterKey: Buffer | undefined;
  if (env.NEO_MASTER_KEY) masterKey = parseMasterKey(env.NEO_MASTER_KEY, 'NEO_MASTER_KEY', problems);
  const masterKeyPrevious = env.NEO_MASTER_KEY_PREVIOUS
    ? parseMasterKey(env.NEO_MASTER_KEY_PREVIOUS, 'NEO_MASTER_KEY_PREVIOUS', problems)
    : undefined;
  if (env.NEO_INTERNAL_TOKEN !== undefined && env.NEO_INTERNAL_TOKEN !== '' && env.NEO_INTERNAL_TOKEN.length < 32) {
    problems.push('NEO_INTERNAL_TOKEN must be at least 32 characters');
  }

  const allowMissingEmailVerified = boolVar(env, 'NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED', false, problems);
  const byokDefault = boolVar(env, 'NEO_BYOK_DEFAULT', false, problems);
  const providerUrls: Partial<Record<ProviderUrlName, string>> = {};
  for (const [name, varName] of Object.entries(KEY_PROVIDER_URL_VARS) as [ProviderUrlName, string][]) {
    const u = urlVar(env, varName, problems);
    if (u) providerUrls[name] = u;
  }
  const azureAllowedHosts = (env.NEO_AZURE_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const providerTimeoutMs = intVar(env, 'NEO_PROVIDER_TIMEOUT_MS', 8000, 100, 10000, problems);
  const redisUrl = urlVar(env, 'NEO_REDIS_URL', problems, ['redis:', 'rediss:']);
  const corsOrigins = (env.NEO_CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const rateLimit: RateLimitConfig = {
    enabled: boolVar(env, 'NEO_RATE_LIMIT', true, problems),
    writesPerMinute: intVar(env, 'NEO_RATE_LIMIT_WRITES', 120, 1, 1_000_000, problems),
    providerCallsPerMinute: intVar(env, 'NEO_RATE_LIMIT_PROVIDER_CALLS', 20, 1, 1_000_000, problems),
    authFailuresPerMinute: intVar(env, 'NEO_RATE_LIMIT_AUTH_FAILURES', 30, 1, 1_000_000, problems),
  };
  const trustProxy = trustProxyVar(env, 'NEO_TRUST_PROXY', problems);
  const maxConnections = intVar(env, 'NEO_MAX_CONNECTIONS', 512, 1, 1_000_000, problems);
  const oidcIssuer = parseOidcIssuer(env.NEO_OIDC_ISSUER, 'NEO_OIDC_ISSUER', problems);
  const overload: OverloadConfig = {
    maxEventLoopDelayMs: intVar(env, 'NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', 200, 0, 60_000, problems),
    // Default: 90 % of V8's heap limit, where the process is close to dying of it.
    maxHeapUsedMb: intVar(env, 'NEO_OVERLOAD_MAX_HEAP_USED_MB', Math.floor((getHeapStatistics().heap_size_limit / 2 ** 20) * 0.9), 0, 1_000_000, problems),
    maxRssMb: intVar(env, 'NEO_OVERLOAD_MAX_RSS_MB', 0, 0, 1_000_000, problems),
    sampleIntervalMs: intVar(env, 'NEO_OVERLOAD_SAMPLE_INTERVAL_MS', 250, 10, 10_000, problems),
    retryAfterS: intVar(env, 'NEO_OVERLOAD_RETRY_AFTER_S', 2, 1, 3600, problems),
  };
  const keyHealth: KeyHealthConfig = {
    invalidAfterMs: durationVar(env, 'NEO_KEY_INVALID_AFTER', 30_000, 0, 86_400_000, problems),
    recheckIntervalMs: durationVar(env, 'NEO_KEY_RECHECK_INTERVAL', 86_400_000, 1000, 30 * 86_400_000, problems),
    recheckConcurrency: intVar(env, 'NEO_KEY_RECHECK_CONCURRENCY', 4, 1, 64, problems),
    scheduler: boolVar(env, 'NEO_KEY_RECHECK', true, problems),
  };

  const webhooks: WebhooksConfig = {
    allowedHttpHosts: hostPortListVar(env, 'NEO_WEBHOOK_ALLOWED_HTTP_HOSTS', problems),
    retryScheduleMs: retryScheduleVar(env, 'NEO_WEBHOOK_RETRY_SCHEDULE', problems),
    worker: boolVar(env, 'NEO_WEBHOOK_DELIVERY', true, problems),
  };

  if (problems.length) throw new ConfigError(problems);

  // Secrets not given: generate once into <data dir>/secrets.json (0600) and reuse.
  const generatedSecrets: string[] = [];
  const needJwt = !jwksUrl && !env.NEO_JWT_SECRET;
  const needMaster = !masterKey;
  const needInternal = !env.NEO_INTERNAL_TOKEN;
  if ((needJwt || needMaster || needInternal) && isPostgresUrl(databaseUrl)) {
    // Only a local SQLite database is served by one data dir. Instances sharing a
    // PostgreSQL database would each generate their own secrets: keys sealed by one
    // instance unreadable on the next, tokens valid on one instance only.
    const missing = [needMaster && 'NEO_MASTER_KEY', needJwt && 'NEO_JWT_SECRET (or NEO_JWT_JWKS_URL)', needInternal && 'NEO_INTERNAL_TOKEN'].filter(Boolean);
    throw new ConfigError([
      `NEO_DATABASE_URL is PostgreSQL: set NEO_MASTER_KEY, NEO_JWT_SECRET (or NEO_JWT_JWKS_URL) and NEO_INTERNAL_TOKEN in the environment; every instance must share the same values, so they are never generated (missing: ${missing.join(', ')}). Secrets are generated into the data dir only for a local SQLite database.`,
    ]);
  }
  let stored: StoredSecrets = {};
  if (needJwt || needMaster || needInternal) {
    const secretsPath = join(dataDir, 'secrets.json');
    stored = readStoredSecrets(secretsPath, problems);
    if (problems.length) throw new ConfigError(problems);
    let changed = false;
    if (needJwt && !stored.jwt_secret) {
      stored.jwt_secret = randomBytes(48).toString('base64url');
      generatedSecrets.push('jwt_secret');
      changed = true;
    }
    if (needMaster && !stored.master_key) {
      stored.master_key = randomBytes(32).toString('base64');
      generatedSecrets.push('master_key');
      changed = true;
    }
    if (needInternal && !stored.internal_token) {
      stored.internal_token = randomBytes(32).toString('base64url');
      generatedSecrets.push('internal_token');
      changed = true;
    }
    if (changed) {
      if (options.noGenerate) {
        throw new ConfigError([`secrets are missing and ${secretsPath} does not hold them; run \`neo-byok serve\` once or set them`]);
      }
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(secretsPath, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
      chmodSync(secretsPath, 0o600);
    }
    if (needMaster && stored.master_key) masterKey = parseMasterKey(stored.master_key, `${secretsPath} master_key`, problems);
    if (needJwt && stored.jwt_secret && stored.jwt_secret.length < 32) problems.push(`${secretsPath} jwt_secret is too short`);
    if (problems.length) throw new ConfigError(problems);
  }

  const jwtSecret = jwksUrl ? undefined : (env.NEO_JWT_SECRET || stored.jwt_secret)!;
  if (!databaseUrl) databaseUrl = join(dataDir, 'neo.db');

  return {
    port,
    host,
    dataDir,
    databaseUrl,
    databasePoolSize,
    databaseTimeouts,
    logLevel,
    jwt: {
      ...(jwtSecret ? { secret: new TextEncoder().encode(jwtSecret) } : {}),
      ...(jwksUrl ? { jwksUrl } : {}),
      ...(issuer ? { issuer } : {}),
      ...(audience ? { audience } : {}),
      ...(allowMissingEmailVerified ? { allowMissingEmailVerified } : {}),
    },
    masterKey: masterKey!,
    ...(masterKeyPrevious ? { masterKeyPrevious } : {}),
    internalToken: env.NEO_INTERNAL_TOKEN || stored.internal_token!,
    byokDefault,
    providerUrls,
    azureAllowedHosts,
    providerTimeoutMs,
    ...(redisUrl ? { redisUrl } : {}),
    corsOrigins,
    rateLimit,
    overload,
    trustProxy,
    keyHealth,
    webhooks,
    generatedSecrets,
    maxConnections,
    ...(oidcIssuer ? { oidcIssuer } : {}),
  };
}

/** The process environment (the CLI passes it to loadConfig). */
export function processEnv(): Env {
  return process.env;
}

/**
 * The canonical `host:port` form of an allow-list entry (`127.0.0.1:8080`,
 * `[::1]:8080`, `receiver.local:80`), or undefined when it is not one (no port,
 * a path, userinfo…). Configuration validates entries with it.
 */
export function normalizeAllowedHttpHost(entry: string): string | undefined {
  const e = entry.trim().toLowerCase();
  if (!/^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]\\]+):\d{1,5}$/.test(e)) return undefined;
  try {
    const u = new URL(`http://${e}/`);
    const port = Number(e.slice(e.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) return undefined;
    return `${u.hostname}:${port}`;
  } catch {
    return undefined;
  }
}
