/** HTTP layer of the Neo API keys (tag "API Keys"): schema, auth, call the service. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../../http/schemas.ts';
import { principal } from '../../http/auth.ts';
import { ApiKeyDeleted, ApiKeyResponse } from './apikeys.schemas.ts';
import type { ApiKeysService } from './apikeys.service.ts';

const tags = ['API Keys'];
// The value of BEARER_AND_KEY, typed so that it fits FastifySchema['security'].
const security: Record<string, string[]>[] = [{ BearerAuth: [] }, { ApiKeyAuth: [] }];

export const apiKeysRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeysService }> = async (app, { apiKeys }) => {
  app.get(
    '/api/v1/user/apikey',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        summary: 'Get your Neo API key (masked)',
        description: 'Returns the creation time and the key masked as `neo_sk_…` plus its last 4 characters. The full key is shown only once, when created or rotated.',
        operationId: 'get-v1-user-apikey',
        security,
        response: { 200: ApiKeyResponse, ...errorResponses(401, 404) },
      },
    },
    async (request) => apiKeys.get(principal(request).user.id),
  );

  app.post(
    '/api/v1/user/apikey',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        summary: 'Create your Neo API key',
        description: 'Creates the caller\'s only API key and returns it in full; store it now, it is never shown again. 409 if the caller already has one.',
        operationId: 'post-v1-user-apikey',
        security,
        response: { 201: ApiKeyResponse, ...errorResponses(401, 409) },
      },
    },
    async (request, reply) => {
      const out = await apiKeys.create(principal(request).user.id);
      return reply.status(201).send(out);
    },
  );

  app.post(
    '/api/v1/user/apikey/rotate',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        summary: 'Rotate your Neo API key',
        description: 'Replaces the key\'s value (same key, same `created_at`) and returns the new value in full. The old value is refused at once.',
        operationId: 'post-v1-user-apikey-rotate',
        security,
        response: { 200: ApiKeyResponse, ...errorResponses(401, 404) },
      },
    },
    async (request) => apiKeys.rotate(principal(request).user.id),
  );

  app.delete(
    '/api/v1/user/apikey',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        summary: 'Delete your Neo API key',
        description: 'Revokes the key at once. 404 if the caller has no key.',
        operationId: 'delete-v1-user-apikey',
        security,
        response: { 200: ApiKeyDeleted, ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      await apiKeys.delete(principal(request).user.id);
      return { deleted: true as const };
    },
  );
};
