/** Turns every failure (ours, Fastify's, the database's) into the contract's ErrorResponse. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unreadableKeyLog, UnreadableKeyError } from '../crypto/vault.ts';
import { databaseUnavailability } from '../db/index.ts';
import { AppError, errorBody } from '../errors/index.ts';
import { describeValidationError } from './validation.ts';

const FASTIFY_CODES: Record<string, () => AppError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AppError('payload_too_large', 'the request body is larger than 64 KiB'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new AppError('unsupported_media_type', 'the request body must be application/json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new AppError('invalid_request', 'the Content-Length header is wrong'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AppError('invalid_request', 'the JSON body is empty'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new AppError('invalid_request', 'the body is not valid JSON'),
  FST_ERR_BAD_URL: () => new AppError('invalid_request', 'the URL is malformed'),
  FST_ERR_ASYNC_CONSTRAINT: () => new AppError('invalid_request', 'the request could not be routed'),
};

const BY_STATUS: Record<number, () => AppError> = {
  400: () => new AppError('invalid_request', 'the request is malformed'),
  401: () => new AppError('unauthorized', 'missing or invalid credentials'),
  403: () => new AppError('forbidden', 'not allowed'),
  404: () => new AppError('not_exists', 'the resource does not exist'),
  405: () => new AppError('invalid_request', 'method not allowed'),
  406: () => new AppError('invalid_request', 'not acceptable'),
  408: () => new AppError('request_timeout', 'request timeout'),
  411: () => new AppError('invalid_request', 'length required'),
  413: () => new AppError('payload_too_large', 'the request body is too large'),
  414: () => new AppError('invalid_request', 'the URL is too long'),
  415: () => new AppError('unsupported_media_type', 'the request body must be application/json'),
  429: () => new AppError('rate_limited', 'too many requests', { retryAfter: 60 }),
  431: () => new AppError('request_headers_too_large', 'request headers too large'),
};

/** Maps any thrown value to an AppError; unknown faults become a generic 500. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (fe && Array.isArray(fe.validation) && fe.validation.length > 0) {
    return new AppError('invalid_request', describeValidationError(fe.validation, fe.validationContext));
  }
  if (fe?.code && FASTIFY_CODES[fe.code]) return FASTIFY_CODES[fe.code]!();
  const unavailable = databaseUnavailability(err);
  if (unavailable) return new AppError('unavailable', unavailable.message, { retryAfter: unavailable.retryAfter });
  if (fe instanceof SyntaxError || (fe as { type?: string })?.type === 'entity.parse.failed') {
    return new AppError('invalid_request', 'the body is not valid JSON');
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) return (BY_STATUS[status] ?? BY_STATUS[400]!)();
  return new AppError('internal', 'an internal error occurred; quote the error_id when reporting it');
}

/** Sends an AppError as the ErrorResponse, with Retry-After where it applies. */
export function sendError(reply: FastifyReply, request: FastifyRequest, err: AppError): FastifyReply {
  if (err.retryAfter !== undefined) void reply.header('Retry-After', String(err.retryAfter));
  return reply.status(err.status).type('application/json; charset=utf-8').send(errorBody(err, request.id));
}

/** Logs the cause of a 5xx (findable by error_id, the request id), never sent to the client; `fields` say more (a batch item's index). */
export function logFault(request: FastifyRequest, err: unknown, fields: Record<string, unknown> = {}, msg = 'request failed'): void {
  const e = err as Error;
  request.log.error(
    { error_id: request.id, ...fields, err: { type: e?.name, message: e?.message, stack: e?.stack, code: (e as { code?: unknown })?.code } },
    msg,
  );
  // A stored key that no longer decrypts answers a generic 500; this event (same
  // error_id) tells the operator whose key and which provider.
  if (err instanceof UnreadableKeyError) request.log.error(...unreadableKeyLog(err.owner, err.provider, { error_id: request.id, ...fields }));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const appErr = toAppError(err);
    if (appErr.status >= 500) logFault(request, err);
    return sendError(reply, request, appErr);
  });
  app.setNotFoundHandler((request, reply) => {
    return sendError(reply, request, new AppError('not_exists', `no route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`));
  });
}
