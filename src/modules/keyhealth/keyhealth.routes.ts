/**
 * POST /internal/v1/credentials/report: the agent runtime tells the service how calls
 * made with a resolved credential went (docs/key-health.md). Internal service token
 * only (a user JWT or API key gets 401), like resolve.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses } from '../../http/schemas.ts';
import { ref } from '../models/models.schemas.ts';
import { KEYHEALTH_COMPONENT_SCHEMAS, MAX_REPORTS, ReportCredentialsRequest, ReportCredentialsResponse } from './keyhealth.schemas.ts';
import type { KeyHealthService, Report } from './keyhealth.service.ts';

/** A full batch of 1,000 reports is ~200 KB; the server-wide limit is 64 KiB. */
export const REPORT_BODY_LIMIT = 512 * 1024;

export const keyHealthRoutes: FastifyPluginAsync<{ health: KeyHealthService }> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  for (const s of KEYHEALTH_COMPONENT_SCHEMAS) app.addSchema(s);

  app.post(
    '/internal/v1/credentials/report',
    {
      config: { auth: 'internal' },
      bodyLimit: REPORT_BODY_LIMIT,
      schema: {
        tags: ['Internal'],
        operationId: 'post-internal-v1-credentials-report',
        summary: 'Report how calls with resolved credentials went',
        description: `Called by the agent runtime with \`Authorization: Bearer <NEO_INTERNAL_TOKEN>\` (a user JWT or API key gets 401), with 1 to ${MAX_REPORTS} reports, each naming the \`credential_id\` and \`credential_version\` resolve answered and the call's \`outcome\`. Report every call or a sample; batch them (docs/key-health.md).

- \`auth_failed\`, \`permission_denied\` and \`quota_exhausted\` make the key due for a re-check with the provider (at most one per key per minute, within the provider-call rate limit); the key becomes \`invalid\` only after two rejections at least NEO_KEY_INVALID_AFTER apart.
- \`ok\` about a key that is \`invalid\` asks for a confirming re-check; \`rate_limited\` and \`provider_error\` are counted only.
- A report about an older \`credential_version\` (the secret was replaced since), an unknown id or another owner's key changes nothing, and the answer is the same.
- Bad input → 400 naming the field; nothing is recorded.`,
        security: [{ InternalToken: [] }],
        body: ref(ReportCredentialsRequest),
        response: { 200: ref(ReportCredentialsResponse), ...errorResponses(400, 401, 413, 415) },
      },
    },
    async (request) => opts.health.report(request.body.reports as Report[]),
  );
};
