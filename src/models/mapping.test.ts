import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProviderName } from '../providers/types.ts';
import { CATALOGUE, findModel } from './catalogue.ts';
import { bedrockGeo, chooseProviderModelId, mapListing, mapProviderModel } from './mapping.ts';

function neoId(provider: ProviderName, id: string): string | undefined {
  const m = mapProviderModel(provider, id);
  return m.supported ? m.neoModelId : undefined;
}

function model(id: string) {
  const m = findModel(id);
  assert.ok(m, `catalogue has ${id}`);
  return m;
}

/** [provider, provider model id, expected Neo id or null for unsupported] */
const CASES: [ProviderName, string, string | null][] = [
  // Anthropic: undated alias, dated snapshot, -latest; retired ids stay unsupported.
  ['anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-sonnet-4-5', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-opus-4-1-20250805', 'claude-opus-4-1'],
  ['anthropic', 'claude-opus-4-20250514', 'claude-opus-4'],
  ['anthropic', 'claude-opus-4-0', 'claude-opus-4'],
  ['anthropic', 'claude-sonnet-4-20250514', 'claude-sonnet-4'],
  ['anthropic', 'claude-haiku-4-5-20251001', 'claude-haiku-4-5'],
  ['anthropic', 'claude-3-7-sonnet-latest', 'claude-3-7-sonnet'],
  ['anthropic', 'claude-3-5-haiku-20241022', 'claude-3-5-haiku'],
  ['anthropic', 'claude-3-5-sonnet-20241022', null],
  ['anthropic', 'claude-2.1', null],
  // OpenAI: alias and dated forms; similarly named smaller models are NOT collapsed.
  ['openai', 'gpt-5', 'gpt-5'],
  ['openai', 'gpt-5-2025-08-07', 'gpt-5'],
  ['openai', 'gpt-5-mini-2025-08-07', 'gpt-5-mini'],
  ['openai', 'gpt-5-nano', 'gpt-5-nano'],
  ['openai', 'gpt-4.1', 'gpt-4-1'],
  ['openai', 'gpt-4.1-2025-04-14', 'gpt-4-1'],
  ['openai', 'gpt-4.1-mini-2025-04-14', 'gpt-4-1-mini'],
  ['openai', 'gpt-4o-2024-08-06', 'gpt-4o'],
  ['openai', 'gpt-4o-mini', null],
  ['openai', 'gpt-4o-mini-2024-07-18', null],
  ['openai', 'gpt-5-chat-latest', null],
  ['openai', 'o3-2025-04-16', 'o3'],
  ['openai', 'o4-mini', 'o4-mini'],
  ['openai', 'o3-mini', null],
  ['openai', 'text-embedding-3-large', null],
  ['openai', 'GPT-5', 'gpt-5'],
  // Azure AI Foundry: deployment names / model ids.
  ['azure-foundry', 'gpt-5', 'gpt-5'],
  ['azure-foundry', 'gpt-4.1-2025-04-14', 'gpt-4-1'],
  ['azure-foundry', 'o4-mini', 'o4-mini'],
  ['azure-foundry', 'claude-sonnet-4-5', 'claude-sonnet-4-5'],
  ['azure-foundry', 'grok-3-mini', 'grok-3-mini'],
  ['azure-foundry', 'gpt-35-turbo', null],
  ['azure-foundry', 'Phi-4', null],
  // Google AI Studio: bare, models/ prefix, versioned; previews unsupported.
  ['google', 'gemini-2.5-pro', 'gemini-2-5-pro'],
  ['google', 'models/gemini-2.5-pro', 'gemini-2-5-pro'],
  ['google', 'models/gemini-2.5-flash', 'gemini-2-5-flash'],
  ['google', 'models/gemini-2.5-flash-lite', 'gemini-2-5-flash-lite'],
  ['google', 'models/gemini-2.5-flash-001', 'gemini-2-5-flash'],
  ['google', 'models/gemini-2.5-pro-preview-06-05', null],
  ['google', 'models/gemini-2.0-flash', null],
  ['google', 'models/text-embedding-004', null],
  // Vertex AI: @date, publisher paths, full resource names, -00N versions.
  ['google-vertex', 'claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
  ['google-vertex', 'claude-opus-4-1@20250805', 'claude-opus-4-1'],
  ['google-vertex', 'claude-haiku-4-5@20251001', 'claude-haiku-4-5'],
  ['google-vertex', 'claude-3-7-sonnet@20250219', 'claude-3-7-sonnet'],
  ['google-vertex', 'publishers/anthropic/models/claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
  ['google-vertex', 'publishers/google/models/gemini-2.5-pro', 'gemini-2-5-pro'],
  ['google-vertex', 'projects/p-1/locations/us-central1/publishers/google/models/gemini-2.5-flash', 'gemini-2-5-flash'],
  ['google-vertex', 'gemini-2.5-flash-lite-001', 'gemini-2-5-flash-lite'],
  ['google-vertex', 'claude-3-5-sonnet-v2@20241022', null],
  ['google-vertex', 'publishers/google/models/imagen-4.0-generate-001', null],
  // Bedrock: model ids, context variants, every inference-profile prefix, ARNs.
  ['amazon-bedrock', 'anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
  ['amazon-bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
  ['amazon-bedrock', 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
  ['amazon-bedrock', 'apac.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
  ['amazon-bedrock', 'global.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5'],
  ['amazon-bedrock', 'jp.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5'],
  ['amazon-bedrock', 'us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0', 'claude-3-7-sonnet'],
  ['amazon-bedrock', 'anthropic.claude-opus-4-1-20250805-v1:0', 'claude-opus-4-1'],
  ['amazon-bedrock', 'anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku'],
  ['amazon-bedrock', 'anthropic.claude-3-7-sonnet-20250219-v1:0:200k', 'claude-3-7-sonnet'],
  ['amazon-bedrock', 'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0', 'claude-sonnet-4'],
  [
    'amazon-bedrock',
    'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
    'claude-sonnet-4-5',
  ],
  ['amazon-bedrock', 'anthropic.claude-3-5-sonnet-20240620-v1:0', null],
  ['amazon-bedrock', 'meta.llama3-70b-instruct-v1:0', null],
  ['amazon-bedrock', 'amazon.titan-embed-text-v2:0', null],
  // OpenRouter: vendor/model with dots, serving variants, dated forms, x-ai vendor.
  ['openrouter', 'anthropic/claude-sonnet-4.5', 'claude-sonnet-4-5'],
  ['openrouter', 'anthropic/claude-opus-4.1', 'claude-opus-4-1'],
  ['openrouter', 'anthropic/claude-3.7-sonnet:thinking', 'claude-3-7-sonnet'],
  ['openrouter', 'anthropic/claude-3.5-haiku-20241022', 'claude-3-5-haiku'],
  ['openrouter', 'openai/gpt-5', 'gpt-5'],
  ['openrouter', 'openai/gpt-4o-2024-11-20', 'gpt-4o'],
  ['openrouter', 'openai/gpt-4.1-mini', 'gpt-4-1-mini'],
  ['openrouter', 'google/gemini-2.5-pro', 'gemini-2-5-pro'],
  ['openrouter', 'google/gemini-2.5-flash:free', 'gemini-2-5-flash'],
  ['openrouter', 'x-ai/grok-4', 'grok-4'],
  ['openrouter', 'x-ai/grok-code-fast-1', 'grok-code-fast-1'],
  ['openrouter', 'meta-llama/llama-3.3-70b-instruct:free', null],
  ['openrouter', 'openai/gpt-4o-mini', null],
  ['openrouter', 'xai/grok-4', null],
  // Vercel AI Gateway: vendor/model, `xai/` vendor.
  ['vercel-gateway', 'anthropic/claude-sonnet-4.5', 'claude-sonnet-4-5'],
  ['vercel-gateway', 'anthropic/claude-haiku-4.5', 'claude-haiku-4-5'],
  ['vercel-gateway', 'openai/gpt-5-mini', 'gpt-5-mini'],
  ['vercel-gateway', 'google/gemini-2.5-flash-lite', 'gemini-2-5-flash-lite'],
  ['vercel-gateway', 'xai/grok-4', 'grok-4'],
  ['vercel-gateway', 'xai/grok-3-mini', 'grok-3-mini'],
  ['vercel-gateway', 'mistral/mistral-large', null],
  // xAI: alias, dated MMDD, -latest / -beta; other Grok variants unsupported.
  ['xai', 'grok-4', 'grok-4'],
  ['xai', 'grok-4-0709', 'grok-4'],
  ['xai', 'grok-4-latest', 'grok-4'],
  ['xai', 'grok-3', 'grok-3'],
  ['xai', 'grok-3-mini-beta', 'grok-3-mini'],
  ['xai', 'grok-code-fast-1', 'grok-code-fast-1'],
  ['xai', 'grok-4-fast-reasoning', null],
  ['xai', 'grok-2-vision-1212', null],
  ['xai', 'grok-2-image-1212', null],
];

describe('provider model id mapping', () => {
  for (const [provider, id, expected] of CASES) {
    it(`${provider} ${id} → ${expected ?? 'unsupported'}`, () => {
      const m = mapProviderModel(provider, id);
      if (expected === null) {
        assert.equal(m.supported, false);
        assert.ok(!m.supported && m.reason.length > 0, 'an unsupported id carries a reason');
      } else {
        assert.equal(m.supported && m.neoModelId, expected);
      }
    });
  }

  it('covers every provider in the table', () => {
    const providers = new Set(CASES.map((c) => c[0]));
    assert.equal(providers.size, 9);
  });

  it('maps every catalogue id of every provider back to its own model', () => {
    for (const m of CATALOGUE) {
      for (const [provider, ids] of Object.entries(m.providers) as [ProviderName, readonly string[]][]) {
        for (const id of ids) assert.equal(neoId(provider, id), m.id, `${provider} ${id}`);
      }
    }
  });

  it('gives unsupported ids a reason that says why', () => {
    const reason = (p: ProviderName, id: string) => {
      const m = mapProviderModel(p, id);
      assert.equal(m.supported, false);
      return m.supported ? '' : m.reason;
    };
    assert.match(reason('openai', 'text-embedding-3-small'), /embedding/);
    assert.match(reason('openai', 'dall-e-3'), /image/);
    assert.match(reason('openai', 'whisper-1'), /audio/);
    assert.match(reason('openai', 'omni-moderation-latest'), /moderation/);
    assert.match(reason('google', 'models/gemini-2.5-pro-preview-06-05'), /preview/);
    assert.match(reason('anthropic', 'claude-3-opus-20240229'), /not in the Neo model catalogue/);
  });

  it('does not treat a model of one provider as served by another', () => {
    // OpenRouter spells xAI as x-ai/, the Vercel gateway as xai/.
    assert.equal(neoId('openrouter', 'xai/grok-4'), undefined);
    assert.equal(neoId('anthropic', 'anthropic/claude-sonnet-4.5'), undefined);
    assert.equal(neoId('openai', 'claude-sonnet-4-5'), undefined);
  });

  it('maps a whole listing, dropping duplicates and keeping order', () => {
    const out = mapListing('openai', ['gpt-5', 'gpt-5-2025-08-07', 'gpt-5', 'whisper-1']);
    assert.deepEqual(out, [
      { id: 'gpt-5', provider: 'openai', supported: true, neo_model_id: 'gpt-5' },
      { id: 'gpt-5-2025-08-07', provider: 'openai', supported: true, neo_model_id: 'gpt-5' },
      { id: 'whisper-1', provider: 'openai', supported: false, reason: 'audio or speech model: Neo agents need a chat model' },
    ]);
  });
});

describe('choosing the provider model id to send', () => {
  it('prefers the catalogue form, then plain forms over variants, then the later snapshot', () => {
    assert.equal(chooseProviderModelId(model('gpt-5'), 'openai', ['gpt-5-2025-08-07', 'gpt-5'], null), 'gpt-5');
    assert.equal(
      chooseProviderModelId(model('claude-3-7-sonnet'), 'openrouter', ['anthropic/claude-3.7-sonnet:thinking', 'anthropic/claude-3.7-sonnet'], null),
      'anthropic/claude-3.7-sonnet',
    );
    assert.equal(
      chooseProviderModelId(model('claude-sonnet-4-5'), 'anthropic', ['claude-sonnet-4-5-20251231', 'claude-sonnet-4-5-20260101'], null),
      'claude-sonnet-4-5-20260101',
    );
    // Resource names are reduced to the id SDKs take.
    assert.equal(chooseProviderModelId(model('gemini-2-5-pro'), 'google', ['models/gemini-2.5-pro'], null), 'gemini-2.5-pro');
    assert.equal(
      chooseProviderModelId(model('claude-sonnet-4-5'), 'google-vertex', ['publishers/anthropic/models/claude-sonnet-4-5@20250929'], 'us-east5'),
      'claude-sonnet-4-5@20250929',
    );
  });

  it('uses the catalogue preferred id when the key listed nothing', () => {
    assert.equal(chooseProviderModelId(model('claude-sonnet-4-5'), 'anthropic', [], null), 'claude-sonnet-4-5-20250929');
    assert.equal(chooseProviderModelId(model('claude-sonnet-4-5'), 'google-vertex', [], 'europe-west1'), 'claude-sonnet-4-5@20250929');
    assert.equal(chooseProviderModelId(model('gpt-5'), 'azure-foundry', [], 'https://x.openai.azure.com'), 'gpt-5');
  });

  it('sends Bedrock models that need one through the inference profile of the key region', () => {
    const sonnet = model('claude-sonnet-4-5');
    const base = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base], 'us-east-1'), `us.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base], 'eu-central-1'), `eu.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base], 'ap-northeast-1'), `apac.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base], 'sa-east-1'), `global.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base], null), `us.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [], 'us-west-2'), `us.${base}`);
    // A listed profile of the region's geography wins; a listed global one next.
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base, `global.${base}`, `eu.${base}`], 'eu-west-3'), `eu.${base}`);
    assert.equal(chooseProviderModelId(sonnet, 'amazon-bedrock', [base, `global.${base}`, `us.${base}`], 'eu-west-3'), `global.${base}`);
  });

  it('sends Bedrock models that run on demand by their model id', () => {
    const haiku = model('claude-3-5-haiku');
    const id = 'anthropic.claude-3-5-haiku-20241022-v1:0';
    assert.equal(chooseProviderModelId(haiku, 'amazon-bedrock', [`${id}:200k`, id], 'us-west-2'), id);
    assert.equal(chooseProviderModelId(haiku, 'amazon-bedrock', [], 'us-west-2'), id);
  });

  it('derives the inference-profile geography from the region', () => {
    assert.equal(bedrockGeo('us-east-1'), 'us');
    assert.equal(bedrockGeo('us-gov-west-1'), 'us-gov');
    assert.equal(bedrockGeo('eu-north-1'), 'eu');
    assert.equal(bedrockGeo('ap-southeast-2'), 'apac');
    assert.equal(bedrockGeo('ca-central-1'), 'global');
    assert.equal(bedrockGeo(null), 'us');
  });
});
