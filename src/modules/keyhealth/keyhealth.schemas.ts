/** TypeBox schemas of POST /internal/v1/credentials/report (docs/key-health.md). */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DateTime, Uuid } from '../../http/schemas.ts';
import { REPORT_OUTCOMES, type ReportOutcome } from './keyhealth.service.ts';

export const MAX_REPORTS = 1000;

export const CredentialReport = Type.Object(
  {
    credential_id: Type.String({ format: 'uuid', description: 'The `credential_id` resolve answered' }),
    credential_version: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'The `credential_version` resolve answered' }),
    outcome: Type.Unsafe<ReportOutcome>({
      type: 'string',
      enum: [...REPORT_OUTCOMES],
      description:
        'What the provider answered the call made with this credential: `ok`; `auth_failed` (401, bad or revoked key); `permission_denied` (403); `quota_exhausted` (out of credit or quota, e.g. 402 or 429 insufficient_quota); `rate_limited` (429 throttling); `provider_error` (5xx, timeout). The first three trigger a re-check of the key with the provider.',
    }),
    status_code: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: "The provider's HTTP status, if any" })),
    at: Type.Optional({ ...DateTime, description: 'When the call was made (RFC 3339); default now' }),
    resource_type: Type.Optional(Type.String({ enum: ['user', 'team'], description: 'The owner resolve answered (optional); a report naming another owner is ignored' })),
    resource_id: Type.Optional({ ...Uuid, description: 'The owner id resolve answered (optional)' }),
  },
  { $id: 'CredentialReport', additionalProperties: false },
);

export const ReportCredentialsRequest = Type.Object(
  {
    reports: Type.Array(Type.Unsafe<Static<typeof CredentialReport>>(Type.Ref('CredentialReport')), {
      minItems: 1,
      maxItems: MAX_REPORTS,
      description: `1 to ${MAX_REPORTS} reports`,
    }),
  },
  { $id: 'ReportCredentialsRequest', additionalProperties: false },
);

export const ReportCredentialsResponse = Type.Object(
  {
    received: Type.Integer({
      minimum: 0,
      description: 'How many reports were received. The same for known, unknown, stale or foreign credentials: the answer reveals nothing about them.',
    }),
  },
  { $id: 'ReportCredentialsResponse', additionalProperties: false },
);

export type ReportBody = Static<typeof ReportCredentialsRequest>;

export const KEYHEALTH_COMPONENT_SCHEMAS = [CredentialReport, ReportCredentialsRequest, ReportCredentialsResponse] as (TSchema & { $id: string })[];
