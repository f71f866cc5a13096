// What the page knows about each provider: display names, which form it needs, defaults
// and the help text shown beside the fields. The server remains the judge of every value.

const VERTEX_REGIONS = [
  'us-central1',
  'us-east1',
  'us-east4',
  'us-east5',
  'us-south1',
  'us-west1',
  'us-west4',
  'northamerica-northeast1',
  'europe-west1',
  'europe-west2',
  'europe-west3',
  'europe-west4',
  'europe-west9',
  'europe-north1',
  'asia-northeast1',
  'asia-northeast3',
  'asia-south1',
  'asia-southeast1',
  'australia-southeast1',
  'me-central2',
];

const BEDROCK_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ca-central-1',
  'eu-central-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-north-1',
  'eu-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'sa-east-1',
];

/**
 * kind: `key` (one API key), `vertex` (service-account JSON + region), `bedrock`
 * (Bedrock API key or IAM access keys + region), `azure` (resource key + endpoint URL).
 */
export const PROVIDERS = [
  {
    id: 'openrouter',
    name: 'OpenRouter',
    about: 'One key for models from many vendors.',
    kind: 'key',
    placeholder: 'sk-or-v1-…',
    help: 'Create a key at openrouter.ai → Settings → Keys.',
  },
  {
    id: 'anthropic',
    name: 'Anthropic',
    about: 'Claude models.',
    kind: 'key',
    placeholder: 'sk-ant-…',
    help: 'Create a key in the Anthropic Console → Settings → API keys.',
  },
  {
    id: 'openai',
    name: 'OpenAI',
    about: 'GPT models.',
    kind: 'key',
    placeholder: 'sk-…',
    help: 'Create a key at platform.openai.com → API keys.',
  },
  {
    id: 'google',
    name: 'Google AI (Gemini API)',
    about: 'Gemini models through the Gemini API.',
    kind: 'key',
    placeholder: 'AIza…',
    help: 'Create a key in Google AI Studio → Get API key.',
  },
  {
    id: 'xai',
    name: 'xAI',
    about: 'Grok models.',
    kind: 'key',
    placeholder: 'xai-…',
    help: 'Create a key in the xAI Console → API keys.',
  },
  {
    id: 'vercel-gateway',
    name: 'Vercel AI Gateway',
    about: 'Models from many vendors through Vercel.',
    kind: 'key',
    placeholder: '',
    help: 'Create a key in the Vercel dashboard → AI Gateway → API keys.',
  },
  {
    id: 'google-vertex',
    name: 'Google Vertex AI',
    about: 'Gemini and partner models in your Google Cloud project.',
    kind: 'vertex',
    defaultLocation: 'us-central1',
    regions: VERTEX_REGIONS,
    locationLabel: 'Region',
  },
  {
    id: 'amazon-bedrock',
    name: 'Amazon Bedrock',
    about: 'Claude and other models in your AWS account.',
    kind: 'bedrock',
    defaultLocation: 'us-east-1',
    regions: BEDROCK_REGIONS,
    locationLabel: 'Region',
  },
  {
    id: 'azure-foundry',
    name: 'Azure AI Foundry',
    about: 'OpenAI and other models deployed in your Azure resource.',
    kind: 'azure',
    locationLabel: 'Endpoint',
  },
];

export const PROVIDER_BY_ID = new Map(PROVIDERS.map((p) => [p.id, p]));

/** The display name of a provider id (the id itself when unknown). */
export function providerName(id) {
  return PROVIDER_BY_ID.get(id)?.name ?? String(id);
}

export const AZURE_ENDPOINT_FORMATS = [
  'https://<resource>.openai.azure.com',
  'https://<resource>.services.ai.azure.com',
  'https://<resource>.cognitiveservices.azure.com',
];
