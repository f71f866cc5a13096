/**
 * One error model: a closed list of codes, each with its HTTP status, kind and title
 * (CONTRACT.md section 9). `docs/errors.md` and the OpenAPI document are kept in
 * agreement with this table by test/errors-doc.test.ts.
 */

export const ERROR_CODES = {
  invalid_request: { status: 400, kind: 'invalid request', title: 'Bad request' },
  byok_no_provider_keys: { status: 400, kind: 'invalid request', title: 'No provider keys configured' },
  provider_key_invalid: { status: 400, kind: 'invalid request', title: 'Provider key rejected' },
  oidc_issuer_not_configured: { status: 400, kind: 'invalid request', title: 'Keyless cloud connections not configured' },
  unauthorized: { status: 401, kind: 'unauthorized request', title: 'Unauthorized' },
  forbidden: { status: 403, kind: 'forbidden request', title: 'Forbidden' },
  byok_not_enabled: { status: 403, kind: 'forbidden request', title: 'BYOK not enabled' },
  not_exists: { status: 404, kind: 'not found', title: 'Not found' },
  already_exists: { status: 409, kind: 'conflict', title: 'Already exists' },
  byok_model_unavailable: { status: 409, kind: 'conflict', title: 'Model unavailable in BYOK mode' },
  cloud_credential_rejected: { status: 409, kind: 'conflict', title: 'Cloud refused the credential exchange' },
  payload_too_large: { status: 413, kind: 'invalid request', title: 'Payload too large' },
  unsupported_media_type: { status: 415, kind: 'invalid request', title: 'Unsupported media type' },
  request_timeout: { status: 408, kind: 'invalid request', title: 'Request timeout' },
  request_headers_too_large: { status: 431, kind: 'invalid request', title: 'Request headers too large' },
  rate_limited: { status: 429, kind: 'rate limited', title: 'Too many requests' },
  internal: { status: 500, kind: 'internal error', title: 'Internal server error' },
  unavailable: { status: 503, kind: 'service unavailable', title: 'Service unavailable' },
  cloud_credential_unavailable: { status: 503, kind: 'service unavailable', title: 'Cloud credentials unavailable' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error every layer throws; the HTTP layer turns it into an ErrorResponse. */
export class AppError extends Error {
  readonly status: number;
  readonly kind: string;
  readonly title: string;
  /** Seconds, sent as Retry-After (429, 503). */
  retryAfter?: number;

  constructor(
    readonly code: ErrorCode,
    /** Safe, user-facing detail. Never a secret or an internal message. */
    readonly detail: string,
    options: { retryAfter?: number; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    const def = ERROR_CODES[code];
    this.status = def.status;
    this.kind = def.kind;
    this.title = def.title;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
    this.name = 'AppError';
  }
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  error_id: string;
  kind: string;
  message: string;
}

/** The ErrorResponse body for an AppError. */
export function errorBody(err: AppError, requestId: string): ErrorBody {
  return {
    error: err.title,
    code: err.code,
    error_id: requestId,
    kind: err.kind,
    message: `${err.kind}: ${err.detail}`,
  };
}

export const invalid = (detail: string) => new AppError('invalid_request', detail);
export const notFound = (detail = 'the resource does not exist') => new AppError('not_exists', detail);
export const forbidden = (detail: string) => new AppError('forbidden', detail);
export const unauthorized = (detail = 'missing or invalid credentials') => new AppError('unauthorized', detail);
export const conflict = (detail: string) => new AppError('already_exists', detail);
