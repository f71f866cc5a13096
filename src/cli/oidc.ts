/**
 * `neo-byok admin oidc rotate-key`: a new signing key for the service's OpenID Connect
 * issuer (docs/keyless-cloud.md "Rotating the issuer's signing key"). Works beside
 * running servers: they read the key set again within 30 s (a server on SQLite without
 * Redis at its next request: src/cli/runtime.ts); the new key signs from PUBLISH_AHEAD_MS
 * on, and the previous public key stays in the JWKS for the grace period after that, so
 * tokens signed with it meanwhile still verify.
 */
import { DEFAULT_ROTATION_GRACE_MS, MAX_ROTATION_GRACE_MS, MIN_ROTATION_GRACE_MS, rotateOidcKey } from '../modules/oidc/issuer.ts';
import { CliError } from './io.ts';
import type { Runtime } from './runtime.ts';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--grace`: 15m … 30d, in milliseconds. */
export function parseGrace(value: string | boolean | undefined): number {
  if (value === undefined) return DEFAULT_ROTATION_GRACE_MS;
  if (typeof value !== 'string') throw new CliError('--grace needs a value', 2);
  const m = /^(\d{1,6})([mhd])$/.exec(value.trim());
  if (!m) throw new CliError(`--grace must look like 15m, 24h or 7d (got "${value.slice(0, 40)}")`, 2);
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms < MIN_ROTATION_GRACE_MS || ms > MAX_ROTATION_GRACE_MS) throw new CliError(`--grace must be between 15m and 30d (got "${value.slice(0, 40)}")`, 2);
  return ms;
}

export async function rotateOidcKeyCommand(rt: Runtime, graceMs: number) {
  const result = await rotateOidcKey({ db: rt.database.db, masterKey: rt.config.masterKey, graceMs });
  return {
    ...result,
    ...(rt.config.oidcIssuer ? {} : { note: 'NEO_OIDC_ISSUER is not set: the key is stored, but the issuer is off until it is' }),
  };
}
