/**
 * The one interface every LLM provider adapter implements (one folder per provider under
 * src/providers/<name>/, registered in registry.ts). See ../../../shared/PROVIDERS.md.
 */

export const PROVIDERS = [
  'openrouter',
  'anthropic',
  'openai',
  'google',
  'xai',
  'vercel-gateway',
  'google-vertex',
  'amazon-bedrock',
  'azure-foundry',
] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export function isProviderName(v: string): v is ProviderName {
  return (PROVIDERS as readonly string[]).includes(v);
}

/**
 * The outcome of a live check (PROVIDERS.md rule 3). Only `rejected` blocks a save;
 * `restricted` and `billing` save as validated with a warning; `rate_limited`,
 * `unavailable` and `unchecked` (no live check exists) save with is_validated false.
 */
export const CHECK_OUTCOMES = ['accepted', 'rejected', 'restricted', 'billing', 'rate_limited', 'unavailable', 'unchecked'] as const;
export type CheckOutcome = (typeof CHECK_OUTCOMES)[number];

/** A credential after its local shape check (defaults applied, location normalized). */
export interface PreparedCredential {
  apiKey: string;
  /** Normalized location (region / endpoint URL) or null for key-only providers. */
  location: string | null;
  /** Identifies the key without revealing it (CONTRACT.md key_hint). */
  keyHint: string;
  /**
   * A keyless (federated) connection: the credential names a cloud identity (role ARN,
   * workload identity provider, Entra app) and holds no secret; checks and resolve
   * exchange a token of this service's OIDC issuer for it (docs/keyless-cloud.md).
   */
  federated?: boolean;
}

/**
 * The shape of a credential handed to the agent runtime (resolve's `credential.kind`):
 * `api_key` an API key or resource key as saved; `gcp_service_account` the service-account
 * JSON as saved; `aws_access_keys` the SigV4 JSON `{"access_key_id","secret_access_key",
 * "session_token"?}`; `access_token` an OAuth bearer access token.
 */
export const CREDENTIAL_KINDS = ['api_key', 'gcp_service_account', 'aws_access_keys', 'access_token'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

/** A credential that expires: what a keyless connection (or `short_lived` resolve) delivers. */
export interface ShortLivedCredential {
  kind: CredentialKind;
  /** The secret to hand to the runtime (never logged). */
  apiKey: string;
  /** When the cloud says it expires (epoch ms). */
  expiresAtMs: number;
}

/** An exchange's result: the credential, or why not as a check outcome (`rejected`: the cloud refused). */
export type ShortLivedResult = { ok: true; credential: ShortLivedCredential } | { ok: false; result: CheckResult };

/** Tokens of this service's OIDC issuer for one owner (issue 18), given to a check or exchange of a keyless connection. */
export interface FederationContext {
  /** A fresh token for `audience` (sub = the owner). Never logged, never returned to an API caller. */
  mintToken(audience: string): Promise<string>;
  /** The owner's subject (`neo:team:<id>`), e.g. for the AWS role session name. */
  subject: string;
}

export interface CheckResult {
  outcome: CheckOutcome;
  /**
   * User-facing explanation in plain words. Never contains the key, request headers or
   * the provider's raw error body (which may echo the key).
   */
  message: string;
  /** Provider model ids the key can reach, when the listing succeeded. */
  models?: string[];
  /**
   * With `rejected`: the credential has expired for good (temporary AWS credentials whose
   * session token expired), so a re-check marks it invalid at once (docs/key-health.md).
   */
  expired?: boolean;
}

export interface CheckContext {
  fetch: typeof fetch;
  /** Per-call timeout in ms (5–10 s by policy). */
  timeoutMs: number;
  /**
   * The whole check's deadline, made once per check by the caller (ByokService: see
   * docs/byok.md "Time limits"). Every outbound call combines it with its own
   * `timeoutMs`, so a check of many sequential calls still ends in time; once it has
   * fired, further calls fail at once as timeouts.
   */
  signal: AbortSignal;
  /** Base URL (scheme+host+port, no trailing slash) of an API, honouring NEO_PROVIDER_URL_* overrides. */
  baseUrl(api: string, fallback: string): string;
  clock: () => number;
  /** Present when NEO_OIDC_ISSUER is set and the owner is known: mints the owner's tokens. */
  federation?: FederationContext;
}

export interface ProviderAdapter {
  readonly name: ProviderName;
  readonly displayName: string;
  /** Whether check() talks to the provider (false: shape check only, saved unverified). */
  readonly liveCheck: boolean;
  /**
   * Local shape check of the credential and location (PROVIDERS.md rule 5): throws
   * AppError('invalid_request') naming the field (`api_key` or `location`) when malformed.
   * Malformed input never leaves the server.
   */
  prepare(input: { apiKey: string; location: string | null | undefined }): PreparedCredential;
  /** Live check. Never throws for provider or network failures: they are outcomes. */
  check(credential: PreparedCredential, ctx: CheckContext): Promise<CheckResult>;
  /**
   * A short-lived credential for this one (a keyless connection's exchange; temporary AWS
   * keys or a Vertex access token for stored long-lived keys), or null when the
   * credential has no short-lived form (API keys). Never throws for cloud failures.
   */
  shortLived?(credential: PreparedCredential, ctx: CheckContext): Promise<ShortLivedResult | null>;
}
