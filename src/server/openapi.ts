/** The OpenAPI 3.1 document: one TypeBox schema per route drives validation, types and this. */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';

export const OPENAPI_TAGS = [
  { name: 'BYOK', description: 'Bring Your Own Key provider management' },
  { name: 'Models', description: 'Model discovery and capabilities' },
  { name: 'User', description: 'User profile and account information' },
  { name: 'API Keys', description: 'Neo API key management for programmatic access' },
  { name: 'Teams', description: 'Team management and member invitations' },
  { name: 'Webhooks', description: 'Signed event notifications to the owner\'s systems (docs/webhooks.md)' },
  { name: 'Internal', description: 'Service-to-service calls of the agent runtime (internal token)' },
  { name: 'Operations', description: 'Health, readiness and metrics' },
  { name: 'OpenID Connect', description: 'The service as an OpenID Connect issuer for keyless cloud connections (NEO_OIDC_ISSUER)' },
];

export function openapiOptions(): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Neo API — BYOK service',
        description:
          'Bring-Your-Own-Key part of the Neo API: encrypted LLM provider keys, provider checks, the model use mode and credential resolution.',
        version: '1.0.0',
        license: { name: 'Apache 2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      // The relative server first, so "Try it out" in /docs calls the server that served
      // the page whatever its host and port; then the seed's local development server.
      servers: [
        { url: '/', description: 'This server' },
        { url: 'http://localhost:8080', description: 'Local development' },
      ],
      tags: OPENAPI_TAGS,
      components: {
        securitySchemes: {
          BearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'JWT authentication token' },
          ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'Neo API key (neo_sk_* prefix)' },
          InternalToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'Internal service token (NEO_INTERNAL_TOKEN) of the agent runtime',
          },
        },
      },
      security: [],
    },
    refResolver: {
      buildLocalReference(json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`;
      },
    },
  };
}
