/**
 * The issuer's public documents: `GET /.well-known/openid-configuration` and the JWKS it
 * names (`GET /.well-known/jwks.json`). Public (the clouds fetch them without
 * credentials); 404 while NEO_OIDC_ISSUER is not set.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { notFound } from '../../errors/index.ts';
import { errorResponses } from '../../http/schemas.ts';
import { DISCOVERY_PATH, JWKS_PATH, OIDC_ALG, type OidcIssuer } from './issuer.ts';

/** Discovery changes only with the configuration: clouds and proxies may keep it an hour. */
const DISCOVERY_CACHE = 'public, max-age=3600';
/** The JWKS changes on a rotation: kept briefly, so that a new key is seen within minutes. */
const JWKS_CACHE = 'public, max-age=300';

const Discovery = Type.Object(
  {
    issuer: Type.String({ description: 'NEO_OIDC_ISSUER: the `iss` of every token the service signs' }),
    jwks_uri: Type.String({ description: 'Where the public signing keys are' }),
    response_types_supported: Type.Array(Type.String()),
    subject_types_supported: Type.Array(Type.String()),
    id_token_signing_alg_values_supported: Type.Array(Type.Literal(OIDC_ALG)),
    claims_supported: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

const Jwk = Type.Object(
  {
    kty: Type.Literal('RSA'),
    kid: Type.String({ description: 'RFC 7638 thumbprint of the key; the `kid` header of the tokens it signs' }),
    use: Type.Literal('sig'),
    alg: Type.Literal(OIDC_ALG),
    n: Type.String(),
    e: Type.String(),
  },
  { additionalProperties: false },
);
const Jwks = Type.Object({ keys: Type.Array(Jwk) }, { additionalProperties: false });

function configured(issuer: OidcIssuer): void {
  if (!issuer.issuer()) throw notFound('this service is not an OpenID Connect issuer (NEO_OIDC_ISSUER is not set)');
}

export const oidcRoutes: FastifyPluginAsync<{ issuer: OidcIssuer }> = async (app, { issuer }) => {
  app.get(
    DISCOVERY_PATH,
    {
      config: { auth: 'public' },
      schema: {
        tags: ['OpenID Connect'],
        summary: 'OpenID Connect discovery document of the service as an issuer (read by AWS, Google Cloud and Microsoft Entra)',
        operationId: 'get-openid-configuration',
        response: { 200: Discovery, ...errorResponses(404) },
      },
    },
    async (_request, reply) => {
      configured(issuer);
      void reply.header('Cache-Control', DISCOVERY_CACHE);
      return issuer.discovery();
    },
  );

  app.get(
    JWKS_PATH,
    {
      config: { auth: 'public' },
      schema: {
        tags: ['OpenID Connect'],
        summary: 'Public keys of the issuer (JWKS): the signing key and, for a grace period after a rotation, the previous one',
        operationId: 'get-jwks',
        response: { 200: Jwks, ...errorResponses(404) },
      },
    },
    async (_request, reply) => {
      configured(issuer);
      void reply.header('Cache-Control', JWKS_CACHE);
      return issuer.jwks();
    },
  );
};
