/**
 * The environment as one schema: every variable with its type, default (written as in the
 * environment), bounds and description. `checkEnv` turns the strings into those types
 * (whole numbers, durations, on/off, comma-separated lists), checks them with Ajv and names
 * every variable that is wrong and what is wrong with it. A `format`
 * names one of the parsers below, which checks the text and gives its parsed form.
 * docs/configuration.md is tested against this schema (test/config.test.ts).
 */
import { isIP } from 'node:net';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import AjvModule, { type ErrorObject } from 'ajv';
import type { Env } from './error.ts';

const Ajv = AjvModule.default ?? AjvModule;
const fail = (problem: string): never => {
  throw new Error(problem);
};
const quote = (raw: string, n: number) => `"${raw.slice(0, n)}"`;

function url(raw: string, protocols: string[]): string {
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : fail('is not a valid URL');
  return protocols.includes(protocol) ? raw.replace(/\/+$/, '') : fail(`must use ${protocols.join(' or ')} (got ${protocol})`);
}

/** A base64 master key of 32 bytes (a message never echoes it). */
export function masterKey(raw: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw.trim())) fail('must be base64 (32 bytes)');
  const key = Buffer.from(raw.trim(), 'base64');
  return key.length === 32 ? key : fail(`must decode to 32 bytes (got ${key.length})`);
}

export type TrustProxy = boolean | number | string[];
const PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal']; // proxy-addr's named ranges

function isAddressOrCidr(value: string): boolean {
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  if (prefix === undefined || family === 0) return family !== 0;
  return extra === undefined && /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function trustProxy(raw: string): TrustProxy {
  const v = raw.trim().toLowerCase();
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no', ''].includes(v)) return false;
  if (/^\d+$/.test(v)) return Number(v) <= 100 ? Number(v) || false : fail(`as a hop count must be between 0 and 100 (got ${v.slice(0, 40)})`);
  const entries = raw.split(',').map((e) => e.trim());
  const bad = entries.filter((e) => !PROXY_RANGES.includes(e.toLowerCase()) && !isAddressOrCidr(e)).map((e) => (e ? quote(e, 60) : '(empty entry)'));
  if (bad.length) fail(`must be on, off, a hop count, or a comma-separated list of proxy IP addresses or CIDRs (e.g. 10.0.0.0/8); not valid: ${bad.join(', ')}`);
  return entries.map((e) => (PROXY_RANGES.includes(e.toLowerCase()) ? e.toLowerCase() : e));
}

/**
 * Clouds fetch `<issuer>/.well-known/openid-configuration` and compare `iss` with it
 * exactly: https, no query, fragment or credentials; plain http only on a loopback host
 * (local tests). Without a trailing slash.
 */
function oidcIssuer(raw: string): string {
  const u = URL.canParse(raw.trim()) ? new URL(raw.trim()) : fail(`must be the public https URL of this service, e.g. https://byok.example.com (got ${quote(raw, 80)})`);
  if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    fail(`must use https (clouds fetch the issuer's keys over https only); plain http is accepted only for http://127.0.0.1:<port> or http://localhost:<port> in local tests (got ${quote(raw, 80)})`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') fail(`must be an https URL (got ${u.protocol})`);
  if (u.search || u.hash || u.username || u.password) fail(`must not carry a query, a fragment or credentials (got ${quote(raw, 80)})`);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
}

/** The canonical `host:port` (`[::1]:8080`) safe-http.ts compares URLs with, or undefined when `entry` is not one. */
export function normalizeAllowedHttpHost(entry: string): string | undefined {
  const e = entry.trim().toLowerCase();
  const port = Number(e.slice(e.lastIndexOf(':') + 1));
  if (!/^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]\\]+):\d{1,5}$/.test(e) || port < 1 || port > 65535 || !URL.canParse(`http://${e}/`)) return undefined;
  return `${new URL(`http://${e}/`).hostname}:${port}`;
}

function hostPorts(raw: string): string[] {
  const entries = raw.split(',').map((h) => h.trim()).filter(Boolean);
  const bad = entries.filter((e) => normalizeAllowedHttpHost(e) === undefined).map((e) => quote(e, 60));
  if (bad.length) fail(`must be comma-separated host:port pairs such as 127.0.0.1:9000 (a port is required); not valid: ${bad.join(', ')}`);
  return entries.map((e) => normalizeAllowedHttpHost(e)!);
}

/** Comma-separated seconds → ms. */
function retrySchedule(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length > 20 || parts.some((p) => !/^\d{1,6}$/.test(p) || Number(p) < 1 || Number(p) > 172_800)) {
    fail(`must be 1 to 20 comma-separated whole numbers of seconds, each from 1 to 172800 (got ${quote(raw.trim(), 60)})`);
  }
  return parts.map((p) => Number(p) * 1000);
}

/** The parsers of the schema's `format`s: each returns the parsed value or throws what is wrong. */
export const FORMATS = {
  url: (raw: string) => url(raw, ['http:', 'https:']),
  'redis-url': (raw: string) => url(raw, ['redis:', 'rediss:']),
  'database-url': (raw: string) =>
    /^(postgres(ql)?:\/\/|sqlite:|:memory:$|\/|\.)/.test(raw) ? raw : fail('must be postgres://…, postgresql://…, sqlite:<path> or a file path'),
  'master-key': masterKey,
  'trust-proxy': trustProxy,
  'oidc-issuer': oidcIssuer,
  'host-ports': hostPorts,
  'retry-schedule': retrySchedule,
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** APIs whose base URL NEO_PROVIDER_URL_<API> overrides (the last three: keyless cloud token exchanges). */
export const PROVIDER_URL_APIS = ['openai', 'anthropic', 'google', 'xai', 'openrouter', 'vercel-gateway', 'google-vertex', 'google-oauth', 'amazon-bedrock', 'aws-sts', 'google-sts', 'google-iam-credentials', 'azure-login'] as const;
export type ProviderUrlName = (typeof PROVIDER_URL_APIS)[number];
export const providerUrlVar = (api: ProviderUrlName) => `NEO_PROVIDER_URL_${api.toUpperCase().replaceAll('-', '_')}` as const;

const int = (def: number, minimum: number, maximum: number, description: string) => Type.Integer({ default: def, minimum, maximum, description });
/** A duration (`500ms`, `30s`, `5m`, `24h`, `7d`) in ms. */
const duration = (def: string, minimum: number, maximum: number, description: string) => Type.Integer({ default: def, minimum, maximum, unit: 'duration', description });
/** on/off (also true/false, 1/0, yes/no). */
const flag = (def: 'on' | 'off', description: string) => Type.Boolean({ default: def, description });
const text = (description: string, options: object = {}) => Type.Optional(Type.String({ description, ...options }));
const list = (description: string) => Type.Optional(Type.Array(Type.String(), { description }));
const [HOUR, DAY] = [3_600_000, 86_400_000];

export const EnvSchema = Type.Object({
  PORT: int(8080, 0, 65535, 'TCP port (0 picks a free port).'),
  HOST: Type.String({ default: '127.0.0.1', description: 'Listen address.' }),
  NEO_DATA_DIR: Type.String({ default: './data', description: 'SQLite database and generated secrets, relative to the working directory.' }),
  NEO_DATABASE_URL: text('postgres://…, postgresql://…, sqlite:<path>, a path or :memory:; default <data dir>/neo.db.', { format: 'database-url' }),
  NEO_DATABASE_POOL_SIZE: int(10, 1, 500, 'PostgreSQL connections per instance.'),
  NEO_DATABASE_STATEMENT_TIMEOUT_MS: int(15_000, 100, HOUR, 'PostgreSQL statement_timeout (ms).'),
  NEO_DATABASE_LOCK_TIMEOUT_MS: int(5_000, 100, HOUR, 'PostgreSQL lock_timeout (ms).'),
  NEO_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(15_000, 100, HOUR, 'PostgreSQL idle_in_transaction_session_timeout (ms).'),
  NEO_LOG_LEVEL: Type.Unsafe<LogLevel>({ type: 'string', enum: LOG_LEVELS, default: 'info', description: 'Log level.' }),
  NEO_JWT_SECRET: text('HS256 secret of bearer JWTs; generated for SQLite when neither it nor NEO_JWT_JWKS_URL is set.', { minLength: 32 }),
  NEO_JWT_JWKS_URL: text("An identity provider's JWKS (RS256/ES256), instead of NEO_JWT_SECRET.", { format: 'url' }),
  NEO_JWT_ISSUER: text("A JWT's iss must equal it."),
  NEO_JWT_AUDIENCE: text("A JWT's aud must contain it."),
  NEO_JWT_ALLOW_MISSING_EMAIL_VERIFIED: flag('off', 'A first token without email_verified counts as verified (an explicit false never does).'),
  NEO_INTERNAL_TOKEN: text('Service token of the internal API; generated for SQLite when not set.', { minLength: 32 }),
  NEO_MASTER_KEY: text('Base64 of 32 bytes that wraps the data keys; generated for SQLite when not set.', { format: 'master-key' }),
  NEO_MASTER_KEY_PREVIOUS: text('The former master key during a rotation.', { format: 'master-key' }),
  NEO_BYOK_DEFAULT: flag('off', 'The byok feature flag of owners that have none stored.'),
  NEO_PROVIDER_TIMEOUT_MS: int(8000, 100, 10_000, 'Timeout of a live provider key check (ms).'),
  ...(Object.fromEntries(PROVIDER_URL_APIS.map((api) => [providerUrlVar(api), text(`Base URL of the ${api} API (a proxy; a local fake in tests).`, { format: 'url' })])) as Record<
    ReturnType<typeof providerUrlVar>,
    ReturnType<typeof text>
  >),
  NEO_AZURE_ALLOWED_HOSTS: list('Tests only: extra hosts an Azure endpoint may use.'),
  NEO_OIDC_ISSUER: text('Public https URL of this service as an OpenID Connect issuer; unset turns keyless cloud connections off.', { format: 'oidc-issuer' }),
  NEO_KEY_INVALID_AFTER: duration('30s', 0, DAY, 'How far apart two rejections must be before a key is invalid.'),
  NEO_KEY_RECHECK_INTERVAL: duration('24h', 1000, 30 * DAY, 'Time between two scheduled re-checks of a key (±10 %).'),
  NEO_KEY_RECHECK_CONCURRENCY: int(4, 1, 64, 'Provider checks one instance runs at once.'),
  NEO_KEY_RECHECK: flag('on', 'Whether this instance runs key re-check rounds.'),
  NEO_WEBHOOK_DELIVERY: flag('on', 'Whether this instance runs the webhook delivery worker.'),
  NEO_WEBHOOK_RETRY_SCHEDULE: Type.String({ default: '5,300,1800,7200,18000,36000,36000', format: 'retry-schedule', description: 'Seconds before each retry.' }),
  NEO_WEBHOOK_ALLOWED_HTTP_HOSTS: text('host:port pairs whose webhook URLs may use http and internal addresses (tests).', { format: 'host-ports' }),
  NEO_REDIS_URL: text('redis://… or rediss://…: shared rate limits and cache invalidation.', { format: 'redis-url' }),
  NEO_CORS_ORIGINS: list('Exact origins allowed to call the API from a browser.'),
  NEO_RATE_LIMIT: flag('on', 'Every rate limit on or off.'),
  NEO_RATE_LIMIT_WRITES: int(120, 1, 1_000_000, 'Writes per caller per minute.'),
  NEO_RATE_LIMIT_PROVIDER_CALLS: int(20, 1, 1_000_000, 'Provider-calling operations per caller per minute.'),
  NEO_RATE_LIMIT_AUTH_FAILURES: int(30, 1, 1_000_000, 'Failed authentications per client IP per minute.'),
  NEO_MAX_CONNECTIONS: int(512, 1, 1_000_000, 'Open HTTP connections accepted at once.'),
  NEO_TRUST_PROXY: Type.String({ default: 'off', format: 'trust-proxy', description: 'on, off, a hop count, or the proxies’ addresses/CIDRs.' }),
  NEO_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: int(200, 0, 60_000, 'Mean event-loop delay (ms) above which requests get 503 (0 = off).'),
  NEO_OVERLOAD_MAX_HEAP_USED_MB: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: "V8 heap in use (MB) above which requests get 503; default 90 % of V8's heap limit." })),
  NEO_OVERLOAD_MAX_RSS_MB: int(0, 0, 1_000_000, 'Resident memory (MB) above which requests get 503 (0 = off).'),
  NEO_OVERLOAD_SAMPLE_INTERVAL_MS: int(250, 10, 10_000, 'How often the load figures are sampled (ms).'),
  NEO_OVERLOAD_RETRY_AFTER_S: int(2, 1, 3600, 'Retry-After (s) of the 503.'),
});
export type EnvValues = Static<typeof EnvSchema>;
const PROPS = EnvSchema.properties as Record<string, TSchema>;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: HOUR, d: DAY };

/** The typed value of a variable's text, or the text itself when it has the wrong form (Ajv then names it). */
function coerce(s: TSchema, raw: string): unknown {
  const v = raw.toLowerCase();
  if (s.type === 'boolean') return ['on', 'true', '1', 'yes'].includes(v) ? true : ['off', 'false', '0', 'no'].includes(v) ? false : raw;
  if (s.type === 'array') return raw.split(',').map((e) => e.trim()).filter(Boolean);
  if (s.type === 'integer' && s.unit !== 'duration') return /^\d+$/.test(raw) ? Number(raw) : raw;
  const m = s.type === 'integer' ? /^(\d{1,9})(ms|s|m|h|d)$/.exec(raw.trim()) : null;
  return m ? Number(m[1]) * UNITS[m[2]!]! : raw;
}

/** What is wrong with a variable, in the operator's words (never echoing a secret). */
function problem(name: string, e: ErrorObject, raw: string, value: unknown): string {
  const s = PROPS[name]!;
  const unit = s.unit === 'duration' ? ' ms' : '';
  const what: Record<string, () => string> = {
    minimum: () => `must be between ${s.minimum}${unit} and ${s.maximum}${unit} (got ${String(value)}${unit})`,
    enum: () => `must be one of ${(s.enum as string[]).join(', ')}`,
    minLength: () => `must be at least ${s.minLength} characters`,
    format: () => (check(FORMATS[s.format as keyof typeof FORMATS], raw) ?? 'is not valid'),
    type: () =>
      s.type === 'boolean' ? `must be on or off (got ${quote(raw, 40)})` : `must be ${unit ? 'a duration such as 30s, 5m or 24h' : 'a whole number'} (got ${quote(raw, 40)})`,
  };
  return `${name} ${(what[e.keyword === 'maximum' ? 'minimum' : e.keyword] ?? (() => e.message ?? 'is not valid'))()}`;
}

/** What `parse` throws for `raw`, or undefined when it accepts it. */
function check(parse: (raw: string) => unknown, raw: string): string | undefined {
  try {
    parse(raw);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

let validate: ReturnType<InstanceType<typeof Ajv>['compile']> | undefined;

/**
 * The environment checked against the schema, defaults applied: the values (a wrong variable
 * keeps its text) and what is wrong, one problem per wrong variable, keyed by its name (''
 * for a rule between variables).
 */
export function checkEnv(env: Env): { values: EnvValues; problems: Map<string, string> } {
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const [name, parse] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: (raw: string) => check(parse, raw) === undefined });
    validate = ajv.compile(EnvSchema);
  }
  const raws: Record<string, string> = {}; // an empty variable counts as unset
  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(PROPS)) {
    const raw = env[name] || (s.default === undefined ? undefined : String(s.default));
    if (raw !== undefined) values[name] = coerce(s, (raws[name] = raw));
  }
  const problems = new Map<string, string>();
  for (const e of validate(values) ? [] : (validate.errors ?? [])) {
    const name = e.instancePath.split('/')[1]!;
    if (!problems.has(name)) problems.set(name, problem(name, e, raws[name]!, values[name]));
  }
  if (values.NEO_JWT_SECRET && values.NEO_JWT_JWKS_URL) problems.set('', 'set NEO_JWT_SECRET or NEO_JWT_JWKS_URL, not both');
  return { values: values as EnvValues, problems };
}
