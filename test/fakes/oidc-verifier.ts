/**
 * How a cloud verifies a token of the service's OIDC issuer, for the fakes of AWS STS,
 * Google STS and Microsoft Entra: fetch `<issuer>/.well-known/openid-configuration` over
 * HTTP from the running server, check that it names the same issuer, fetch the JWKS it
 * names, then verify the RS256 signature and the claims iss, aud, exp, iat (and nbf), as
 * the clouds document (AWS "Creating OpenID Connect (OIDC) identity providers", Google
 * "Workload identity federation with other providers", Entra "Workload identity
 * federation"). Nothing is cached between calls: every verification sees the JWKS the
 * server publishes now (so a rotation is observed as a cloud would after its cache).
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

export type VerifyFailure = 'malformed' | 'issuer' | 'discovery' | 'signature' | 'audience' | 'expired' | 'iat' | 'lifetime';

export type Verified = { ok: true; claims: JWTPayload & { sub: string } } | { ok: false; reason: VerifyFailure };

/** The `iss` of a token without verifying it (a cloud picks the trust configuration by it). */
export function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies `token` as issued by `trustedIssuer` for `audience` at time `nowMs`: the issuer's
 * discovery document and JWKS are fetched over HTTP. `maxLifetimeS` is the cloud's limit
 * on exp − iat (AWS and Google: 24 h; Entra accepts up to its own limits).
 */
export async function verifyIssuerToken(
  token: string,
  opts: { trustedIssuer: string; audience: string; nowMs: number; maxLifetimeS?: number; skewS?: number },
): Promise<Verified> {
  const skew = opts.skewS ?? 300;
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (claims.iss !== opts.trustedIssuer) return { ok: false, reason: 'issuer' };
  let jwks: JSONWebKeySet;
  try {
    const disc = await fetch(`${opts.trustedIssuer}/.well-known/openid-configuration`, { redirect: 'error' });
    if (disc.status !== 200) return { ok: false, reason: 'discovery' };
    const doc = (await disc.json()) as { issuer?: unknown; jwks_uri?: unknown; id_token_signing_alg_values_supported?: unknown };
    if (doc.issuer !== opts.trustedIssuer || typeof doc.jwks_uri !== 'string') return { ok: false, reason: 'discovery' };
    if (!Array.isArray(doc.id_token_signing_alg_values_supported) || !doc.id_token_signing_alg_values_supported.includes('RS256')) {
      return { ok: false, reason: 'discovery' };
    }
    const keys = await fetch(doc.jwks_uri, { redirect: 'error' });
    if (keys.status !== 200) return { ok: false, reason: 'discovery' };
    jwks = (await keys.json()) as JSONWebKeySet;
  } catch {
    return { ok: false, reason: 'discovery' };
  }
  let verified: JWTPayload;
  try {
    const r = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ['RS256'],
      issuer: opts.trustedIssuer,
      currentDate: new Date(opts.nowMs),
      clockTolerance: skew,
    });
    verified = r.payload;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') return { ok: false, reason: 'expired' };
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { ok: false, reason: 'iat' };
    return { ok: false, reason: 'signature' };
  }
  const aud = verified.aud;
  if (!(aud === opts.audience || (Array.isArray(aud) && aud.includes(opts.audience)))) return { ok: false, reason: 'audience' };
  const nowS = Math.floor(opts.nowMs / 1000);
  if (typeof verified.iat !== 'number' || verified.iat > nowS + skew) return { ok: false, reason: 'iat' };
  if (typeof verified.exp !== 'number' || verified.exp - verified.iat > (opts.maxLifetimeS ?? 86_400)) return { ok: false, reason: 'lifetime' };
  if (typeof verified.sub !== 'string' || verified.sub === '') return { ok: false, reason: 'malformed' };
  return { ok: true, claims: verified as JWTPayload & { sub: string } };
}
