// The Neo API client of the settings page: same-origin fetch, the caller's credential
// from sessionStorage only (never a URL, a cookie or localStorage), and the contract's
// ErrorResponse turned into an ApiError the page can branch on by `code`.

const STORAGE_KEY = 'neo.byok.credential';

/** The credential the user signed in with, kept for this tab only. */
export const credential = {
  get() {
    try {
      return sessionStorage.getItem(STORAGE_KEY);
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(STORAGE_KEY, value);
  },
  clear() {
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      /* storage unavailable: nothing kept */
    }
  },
};

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Normalises what the user pasted. Returns `{ value }` or `{ problem }` (plain words).
 * A Neo API key goes out as X-Api-Key, anything shaped like a JWT as a Bearer token.
 */
export function parseCredential(raw) {
  let value = String(raw ?? '').trim();
  if (/^bearer\s+/i.test(value)) value = value.replace(/^bearer\s+/i, '').trim();
  if (value === '') return { problem: 'Paste your Neo API key or token first.' };
  if (value.startsWith('neo_sk_')) {
    if (!/^neo_sk_[A-Za-z0-9]+$/.test(value)) {
      return { problem: 'This Neo API key contains characters a key never has. Copy it again, without spaces or line breaks.' };
    }
    return { value };
  }
  if (JWT_RE.test(value)) return { value };
  return {
    problem:
      'This is neither a Neo API key (it starts with neo_sk_) nor a sign-in token (three parts separated by dots). Copy it again completely.',
  };
}

function authHeaders(value) {
  if (!value) return {};
  return value.startsWith('neo_sk_') ? { 'x-api-key': value } : { authorization: `Bearer ${value}` };
}

/** A failed API call: `status` (0 when the server was not reached) and the ErrorResponse fields. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const message = body && typeof body.message === 'string' ? body.message : `request failed with status ${status}`;
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body && typeof body.code === 'string' ? body.code : status === 0 ? 'network' : 'unknown';
    this.errorId = body && typeof body.error_id === 'string' ? body.error_id : null;
    this.title = body && typeof body.error === 'string' ? body.error : null;
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

/** Called with every 401 so the page can sign the user out. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * Calls the API. `opts.credential` overrides the stored one (used while signing in).
 * Resolves with the parsed JSON body; rejects with an ApiError.
 */
export async function api(method, path, body, opts = {}) {
  const token = opts.credential ?? credential.get();
  const headers = { accept: 'application/json', ...authHeaders(token) };
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { message: 'The server could not be reached. Check your connection and try again.' });
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, res.headers.get('retry-after'));
    if (res.status === 401 && !opts.credential) onUnauthorized(err);
    throw err;
  }
  return data;
}

const LEADS = {
  network: 'The server could not be reached.',
  unauthorized: 'Your sign-in is not valid any more.',
  forbidden: 'You are not allowed to do this.',
  byok_not_enabled: 'BYOK is not enabled for this account.',
  byok_no_provider_keys: 'Add a provider key before switching to BYOK.',
  provider_key_invalid: 'The provider rejected this key.',
  invalid_request: 'The request was not accepted.',
  not_exists: 'Not found.',
  already_exists: 'This already exists.',
  payload_too_large: 'That is too large to send.',
  unsupported_media_type: 'The request was not accepted.',
  rate_limited: 'Too many requests.',
  internal: 'Something went wrong on the server.',
  unavailable: 'The service is temporarily unavailable.',
};

/**
 * Plain words for an error: a lead sentence chosen by `code`, the server's own message,
 * a retry hint for 429/503 and the error id for support on 5xx.
 */
export function describeError(err) {
  if (!(err instanceof ApiError)) return { lead: 'Something went wrong in this page.', detail: String(err?.message ?? err), extra: null };
  const lead = LEADS[err.code] ?? (err.title ? `${err.title}.` : 'The request failed.');
  const detail = err.code === 'network' ? null : err.message;
  let extra = null;
  if ((err.code === 'rate_limited' || err.code === 'unavailable') && err.retryAfter) {
    extra = `Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`;
  } else if (err.status >= 500 && err.errorId) {
    extra = `If this keeps happening, quote error id ${err.errorId}.`;
  }
  return { lead, detail, extra };
}
