/** Shared TypeBox schemas: the ErrorResponse of the seed and helpers for route responses. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteOptions } from 'fastify';
import { ERROR_CODES } from '../errors/index.ts';

export const ErrorResponse = Type.Object(
  {
    error: Type.String({ examples: ['Bad request'] }),
    // As in the seed only `error` is required; this server always sends all five.
    // A plain string as in the seed, not a closed enum: a client generated with strict
    // enums must not break when a code is added. The known codes are named in the text.
    code: Type.Optional(
      Type.String({
        description: `Stable machine-readable error code: branch on this rather than matching the human \`error\`/\`message\` strings. Known codes (docs/errors.md; more may be added, treat an unknown one by its HTTP status): ${Object.keys(ERROR_CODES)
          .map((c) => `\`${c}\``)
          .join(', ')}.`,
        examples: ['invalid_request'],
      }),
    ),
    error_id: Type.Optional(Type.String({ description: 'Correlation id of this error instance; equals the X-Request-Id header.' })),
    kind: Type.Optional(Type.String({ description: 'Coarse error category (e.g. "forbidden request", "invalid request").' })),
    message: Type.Optional(
      Type.String({ description: 'Human-readable detail (the kind prefixed to the error). For display, not for branching.' }),
    ),
  },
  { $id: 'ErrorResponse', additionalProperties: false },
);

const ErrorRef = Type.Ref('ErrorResponse');

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Unauthorized: missing or invalid credentials',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  429: 'Rate limited (see Retry-After)',
  500: 'Internal server error',
  503: 'Service unavailable (see Retry-After)',
};

/**
 * Error responses for a route's OpenAPI `responses`. 500 and 503 are added to every
 * route because any route may meet an internal fault or an unreachable database, and
 * 429 to every authenticated one (401 listed) because failed authentications are rate
 * limited per client address.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  const all = new Set([...statuses, ...(statuses.includes(401) ? [429] : []), 500, 503]);
  for (const s of [...all].sort((a, b) => a - b)) {
    out[s] = Type.Unsafe({ ...ErrorRef, description: DESCRIPTIONS[s] ?? 'Error' });
  }
  return out;
}

/** Methods whose requests Fastify reads a body from (it skips the body of GET and HEAD). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * `onRoute` hook: adds to a documented route the error answers that come from the
 * framework rather than from the route, so no route can forget them: 413 and 415 where
 * a body is read (an over-long or non-JSON body is refused before the route runs, even
 * on a route that takes no body) and 400 where the path has a parameter (malformed
 * %-encoding or a value over the router's 200 characters).
 */
export function addFrameworkErrorResponses(route: RouteOptions): void {
  const response = route.schema?.response as Record<string, unknown> | undefined;
  if (!response || route.schema?.hide) return;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const implied: number[] = [];
  if (route.schema?.body || methods.some((m) => BODY_METHODS.has(m))) implied.push(413, 415);
  if (route.url.includes(':')) implied.push(400);
  const added = errorResponses(...implied);
  for (const status of implied) if (response[status] === undefined && response[String(status)] === undefined) response[status] = added[status];
}

export const Uuid = Type.String({ format: 'uuid' });
export const DateTime = Type.String({ format: 'date-time' });
export const Nullable = <T extends TSchema>(t: T, opts: Record<string, unknown> = {}) =>
  Type.Union([t, Type.Null()], opts);

export const BEARER_AND_KEY: { [scheme: string]: string[] }[] = [{ BearerAuth: [] }, { ApiKeyAuth: [] }];
