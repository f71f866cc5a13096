/**
 * key_hint (CONTRACT.md section 4): identifies a stored credential without revealing it.
 * Computed once when the key is written, so listing never decrypts.
 */

/**
 * The hint of any credential: a GCP service-account JSON gives its `client_email`, an
 * AWS SigV4 JSON its access key id (`AKIA…WXYZ`), anything else is an opaque key
 * (see opaqueKeyHint).
 */
export function keyHint(secret: string): string {
  const s = secret.trim();
  if (s.startsWith('{')) {
    try {
      const j = JSON.parse(s) as Record<string, unknown>;
      if (j && typeof j === 'object') {
        if (typeof j.client_email === 'string' && j.client_email) return serviceAccountHint(j.client_email);
        if (typeof j.access_key_id === 'string' && j.access_key_id) return accessKeyIdHint(j.access_key_id);
      }
    } catch {
      /* not JSON: an opaque key */
    }
  }
  return opaqueKeyHint(s);
}

/**
 * Hint for an opaque API key: the first 3 and last 4 characters around `…`
 * (`sk-…AbCd`); only `…` and the last 2 for keys shorter than 16 characters.
 */
export function opaqueKeyHint(secret: string): string {
  const s = secret.trim();
  if (s.length < 16) return `…${s.slice(-2)}`;
  return `${s.slice(0, 3)}…${s.slice(-4)}`;
}

/** Hint for a GCP service account: its `client_email` (not a secret). */
export function serviceAccountHint(clientEmail: string): string {
  return clientEmail;
}

/** Hint for AWS SigV4 keys: the access key id as `AKIA…WXYZ` (first 4, last 4). */
export function accessKeyIdHint(accessKeyId: string): string {
  const s = accessKeyId.trim();
  if (s.length < 16) return `…${s.slice(-2)}`;
  return `${s.slice(0, 4)}…${s.slice(-4)}`;
}
