/**
 * Setup help for keyless cloud connections (`GET /api/v1/byok/federation`, issue 18 item 5):
 * for one owner, what the customer creates in AWS, Google Cloud and Microsoft Entra so
 * that the service's tokens (issuer NEO_OIDC_ISSUER, `sub` = neo:<type>:<id>) are
 * exchanged for that owner's access, and no other owner's. Pure: built from the issuer
 * URL and the owner; holds no secret (there is none to hold: the customer's side of the
 * trust is public configuration).
 */
import { DISCOVERY_PATH, JWKS_PATH, OIDC_TOKEN_TTL_S, oidcSubject, type OidcOwner } from './issuer.ts';

/**
 * The `aud` of the service's token per cloud. Google's is per provider (its default
 * allowed audience is the provider's full resource name), so it is a function.
 */
export const FEDERATION_AUDIENCES = {
  aws: 'sts.amazonaws.com',
  azure: 'api://AzureADTokenExchange',
  google: (workloadIdentityProvider: string) => `//iam.googleapis.com/${workloadIdentityProvider}`,
} as const;

export const GOOGLE_AUDIENCE_FORMAT = '//iam.googleapis.com/projects/<project-number>/locations/global/workloadIdentityPools/<pool-id>/providers/<provider-id>';

/** The Bedrock permissions a keyless role needs: the check (list models) and inference. */
const BEDROCK_ACTIONS = [
  'bedrock:ListFoundationModels',
  'bedrock:GetFoundationModel',
  'bedrock:ListInferenceProfiles',
  'bedrock:GetInferenceProfile',
  'bedrock:InvokeModel',
  'bedrock:InvokeModelWithResponseStream',
];

export interface CredentialField {
  name: string;
  required: boolean;
  description: string;
  example: string;
}

export interface FederationHelp {
  resource_type: 'user' | 'team';
  resource_id: string;
  issuer: string;
  subject: string;
  discovery_url: string;
  jwks_uri: string;
  token_lifetime_seconds: number;
  aws: {
    provider: 'amazon-bedrock';
    audience: string;
    oidc_provider_url: string;
    condition_keys: { sub: string; aud: string };
    trust_policy: Record<string, unknown>;
    permissions_policy: Record<string, unknown>;
    commands: string[];
    verify: string[];
    credential_fields: CredentialField[];
  };
  google: {
    provider: 'google-vertex';
    audience_format: string;
    attribute_mapping: string;
    attribute_condition: string;
    principal_format: string;
    commands: string[];
    service_account_commands: string[];
    verify: string[];
    credential_fields: CredentialField[];
  };
  azure: {
    provider: 'azure-foundry';
    audience: string;
    federated_credential: { name: string; issuer: string; subject: string; audiences: string[]; description: string };
    commands: string[];
    verify: string[];
    credential_fields: CredentialField[];
  };
}

/** Single-quotes a value for a POSIX shell. The values here are the issuer URL and ids; quoting keeps any of them literal. */
function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The setup help for one owner under one issuer. */
export function federationHelp(issuer: string, owner: OidcOwner): FederationHelp {
  const subject = oidcSubject(owner);
  // AWS names the provider and its condition keys by the issuer URL without its scheme.
  const host = issuer.replace(/^https?:\/\//, '');
  const roleName = `neo-byok-bedrock-${owner.type}`;
  const trustPolicy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::<ACCOUNT_ID>:oidc-provider/${host}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { [`${host}:sub`]: subject, [`${host}:aud`]: FEDERATION_AUDIENCES.aws } },
      },
    ],
  };
  const permissionsPolicy = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: BEDROCK_ACTIONS, Resource: '*' }],
  };
  const principal = `principal://iam.googleapis.com/projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/subject/${subject}`;
  const attributeCondition = `assertion.sub == '${subject}'`;
  const federated = {
    name: `neo-byok-${owner.type}-${owner.id}`.slice(0, 120),
    issuer,
    subject,
    audiences: [FEDERATION_AUDIENCES.azure],
    description: 'Neo BYOK keyless connection (no client secret)',
  };

  return {
    resource_type: owner.type,
    resource_id: owner.id,
    issuer,
    subject,
    discovery_url: `${issuer}${DISCOVERY_PATH}`,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    token_lifetime_seconds: OIDC_TOKEN_TTL_S,
    aws: {
      provider: 'amazon-bedrock',
      audience: FEDERATION_AUDIENCES.aws,
      oidc_provider_url: issuer,
      condition_keys: { sub: `${host}:sub`, aud: `${host}:aud` },
      trust_policy: trustPolicy,
      permissions_policy: permissionsPolicy,
      commands: [
        '# 1. Register the service as an OpenID Connect provider of your AWS account (once per account).',
        `aws iam create-open-id-connect-provider --url ${sh(issuer)} --client-id-list ${sh(FEDERATION_AUDIENCES.aws)}`,
        '# 2. Save the trust policy shown above as trust-policy.json, with <ACCOUNT_ID> replaced by your 12-digit account id,',
        '#    and create the role the service assumes (only this owner\'s tokens match its conditions).',
        `aws iam create-role --role-name ${roleName} --max-session-duration 3600 --assume-role-policy-document file://trust-policy.json`,
        '# 3. Save the permissions policy shown above as bedrock-policy.json and allow the role to use Bedrock.',
        `aws iam put-role-policy --role-name ${roleName} --policy-name neo-byok-bedrock --policy-document file://bedrock-policy.json`,
        '# 4. Enter the role ARN in the settings page ("Connect without a key"), with the region where you use Bedrock:',
        `aws iam get-role --role-name ${roleName} --query Role.Arn --output text`,
      ],
      verify: [
        `aws iam list-open-id-connect-providers  # lists arn:aws:iam::<ACCOUNT_ID>:oidc-provider/${host}`,
        `aws iam get-role --role-name ${roleName} --query Role.AssumeRolePolicyDocument  # conditions on ${host}:sub = ${subject}`,
      ],
      credential_fields: [
        { name: 'role_arn', required: true, description: 'ARN of the IAM role whose trust policy names this issuer and subject', example: `arn:aws:iam::123456789012:role/${roleName}` },
        { name: 'location', required: true, description: 'AWS region of Bedrock', example: 'us-east-1' },
      ],
    },
    google: {
      provider: 'google-vertex',
      audience_format: GOOGLE_AUDIENCE_FORMAT,
      attribute_mapping: 'google.subject=assertion.sub',
      attribute_condition: attributeCondition,
      principal_format: principal,
      commands: [
        '# Your project and the names of the pool and provider to create.',
        'PROJECT_ID=<your-project-id>',
        'POOL_ID=neo-byok',
        'PROVIDER_ID=neo-byok',
        `PROJECT_NUMBER=$(gcloud projects describe "$PROJECT_ID" --format='value(projectNumber)')`,
        '# 1. A workload identity pool, and a provider in it that trusts the service as an OIDC issuer, for this owner only.',
        `gcloud iam workload-identity-pools create "$POOL_ID" --project="$PROJECT_ID" --location=global --display-name='Neo BYOK'`,
        `gcloud iam workload-identity-pools providers create-oidc "$PROVIDER_ID" --project="$PROJECT_ID" --location=global --workload-identity-pool="$POOL_ID" --issuer-uri=${sh(issuer)} --attribute-mapping='google.subject=assertion.sub' --attribute-condition=${sh(attributeCondition)}`,
        '# 2. Let this owner\'s identity use Vertex AI in the project.',
        `gcloud projects add-iam-policy-binding "$PROJECT_ID" --role=roles/aiplatform.user --member="${principal}"`,
        '# 3. Enter these in the settings page ("Connect without a key"), with the region where you use Vertex AI:',
        'echo "workload_identity_provider: projects/$PROJECT_NUMBER/locations/global/workloadIdentityPools/$POOL_ID/providers/$PROVIDER_ID"',
        'echo "project_id: $PROJECT_ID"',
      ],
      service_account_commands: [
        '# Optional, instead of step 2: the service acts as a service account (enter its email as service_account_email).',
        'SA_EMAIL="neo-byok-vertex@$PROJECT_ID.iam.gserviceaccount.com"',
        `gcloud iam service-accounts create neo-byok-vertex --project="$PROJECT_ID" --display-name='Neo BYOK (keyless)'`,
        'gcloud projects add-iam-policy-binding "$PROJECT_ID" --role=roles/aiplatform.user --member="serviceAccount:$SA_EMAIL"',
        `gcloud iam service-accounts add-iam-policy-binding "$SA_EMAIL" --project="$PROJECT_ID" --role=roles/iam.workloadIdentityUser --member="${principal}"`,
      ],
      verify: [
        `gcloud iam workload-identity-pools providers describe "$PROVIDER_ID" --project="$PROJECT_ID" --location=global --workload-identity-pool="$POOL_ID" --format='value(oidc.issuerUri,attributeCondition)'`,
        `gcloud projects get-iam-policy "$PROJECT_ID" --flatten='bindings[].members' --filter='bindings.members:${subject}' --format='value(bindings.role)'`,
      ],
      credential_fields: [
        { name: 'workload_identity_provider', required: true, description: 'Full resource name of the workload identity provider', example: 'projects/123456789012/locations/global/workloadIdentityPools/neo-byok/providers/neo-byok' },
        { name: 'project_id', required: true, description: 'Project whose Vertex AI is used', example: 'my-project' },
        { name: 'service_account_email', required: false, description: 'Service account to act as (only with the optional service-account setup)', example: 'neo-byok-vertex@my-project.iam.gserviceaccount.com' },
        { name: 'location', required: true, description: 'Vertex AI region', example: 'us-central1' },
      ],
    },
    azure: {
      provider: 'azure-foundry',
      audience: FEDERATION_AUDIENCES.azure,
      federated_credential: federated,
      commands: [
        '# 1. An app registration (no client secret) and its service principal in your tenant.',
        `APP_ID=$(az ad app create --display-name 'Neo BYOK' --query appId --output tsv)`,
        'az ad sp create --id "$APP_ID"',
        '# 2. A federated credential: the app trusts this service\'s tokens for this owner only.',
        `az ad app federated-credential create --id "$APP_ID" --parameters ${sh(JSON.stringify(federated))}`,
        '# 3. Let the app use your Azure AI Foundry / Azure OpenAI resource.',
        'RESOURCE_ID=$(az cognitiveservices account show --name <resource-name> --resource-group <resource-group> --query id --output tsv)',
        `az role assignment create --assignee "$APP_ID" --role 'Cognitive Services User' --scope "$RESOURCE_ID"`,
        '# 4. Enter these in the settings page ("Connect without a key"), with the resource endpoint (https://<resource>.openai.azure.com, .services.ai.azure.com or .cognitiveservices.azure.com):',
        'echo "tenant_id: $(az account show --query tenantId --output tsv)"',
        'echo "client_id: $APP_ID"',
      ],
      verify: [
        'az ad app federated-credential list --id "$APP_ID" --query "[].{issuer:issuer,subject:subject,audiences:audiences}"',
        'az role assignment list --assignee "$APP_ID" --scope "$RESOURCE_ID" --query "[].roleDefinitionName"',
      ],
      credential_fields: [
        { name: 'tenant_id', required: true, description: 'Directory (tenant) id of your Microsoft Entra tenant', example: '00000000-0000-0000-0000-000000000000' },
        { name: 'client_id', required: true, description: 'Application (client) id of the app registration', example: '11111111-1111-1111-1111-111111111111' },
        { name: 'location', required: true, description: 'Endpoint of the Azure AI Foundry or Azure OpenAI resource', example: 'https://my-resource.openai.azure.com' },
      ],
    },
  };
}
