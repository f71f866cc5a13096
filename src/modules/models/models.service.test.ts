import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nowIso, openDatabase, type DatabaseHandle } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import { LocalBus } from '../../lib/bus.ts';
import { ownerKey, type Owner } from '../auth/owner.ts';
import { FeaturesService } from '../features/features.service.ts';
import { computeByokModels, computeServing, ModelsService, type OwnerKey } from './models.service.ts';

function key(provider: OwnerKey['provider'], models: string[] | null, location: string | null = null): OwnerKey {
  return { id: uuidv7(), provider, location, ciphertext: 'x', models, updatedAt: nowIso(), status: 'active', version: 1, rejectedAt: null };
}

describe('what keys serve', () => {
  it('orders the serving keys first-party, clouds, gateways, whatever the key order', () => {
    const keys = [
      key('vercel-gateway', ['anthropic/claude-sonnet-4.5']),
      key('openrouter', ['anthropic/claude-sonnet-4.5', 'openai/gpt-5']),
      key('google-vertex', ['claude-sonnet-4-5@20250929']),
      key('amazon-bedrock', ['anthropic.claude-sonnet-4-5-20250929-v1:0'], 'eu-west-1'),
      key('anthropic', ['claude-sonnet-4-5-20250929']),
    ];
    const serving = computeServing(keys);
    assert.deepEqual(
      serving.get('claude-sonnet-4-5')?.map((s) => `${s.provider}:${s.providerModelId}`),
      [
        'anthropic:claude-sonnet-4-5-20250929',
        'amazon-bedrock:eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
        'google-vertex:claude-sonnet-4-5@20250929',
        'openrouter:anthropic/claude-sonnet-4.5',
        'vercel-gateway:anthropic/claude-sonnet-4.5',
      ],
    );
    assert.deepEqual(serving.get('gpt-5')?.map((s) => s.provider), ['openrouter']);
    assert.equal(serving.has('gemini-2-5-pro'), false);
  });

  it('an empty listing serves nothing; an unknown listing serves the catalogue of its provider', () => {
    assert.equal(computeServing([key('openai', [])]).size, 0);
    const unknown = computeServing([key('openai', null)]);
    assert.deepEqual(unknown.get('gpt-5')?.[0]?.providerModelId, 'gpt-5');
    assert.equal(unknown.has('claude-sonnet-4-5'), false);
  });

  it('lists every discovered model, sorted by provider then id, with the id to send', () => {
    const out = computeByokModels([key('xai', ['grok-4-0709', 'grok-2-image-1212']), key('anthropic', ['claude-2.1']), key('openai', null)]);
    assert.deepEqual(out, [
      { id: 'claude-2.1', provider: 'anthropic', supported: false, reason: 'not in the Neo model catalogue' },
      { id: 'grok-2-image-1212', provider: 'xai', supported: false, reason: 'image or video generation model: Neo agents need a chat model' },
      { id: 'grok-4-0709', provider: 'xai', supported: true, neo_model_id: 'grok-4', provider_model_id: 'grok-4-0709' },
    ]);
  });
});

describe('ModelsService cache', () => {
  let database: DatabaseHandle;
  let bus: LocalBus;
  let svc: ModelsService;
  const owner: Owner = { type: 'user', id: uuidv7() };

  const setMode = (mode: 'neo' | 'byok') =>
    database.db
      .insertInto('byok_settings')
      .values({ owner_type: owner.type, owner_id: owner.id, mode, updated_at: nowIso() })
      .onConflict((oc) => oc.columns(['owner_type', 'owner_id']).doUpdateSet({ mode }))
      .execute();

  before(async () => {
    database = await openDatabase(':memory:');
    bus = new LocalBus();
    const features = new FeaturesService({ db: database.db, dialect: database.dialect, bus, defaults: { byok: true } });
    svc = new ModelsService({ db: database.db, dialect: database.dialect, bus, features });
  });
  after(async () => database.close());

  it('serves a warm owner from memory until the owner topic drops it', async () => {
    await setMode('byok');
    assert.equal((await svc.ownerState(owner)).storedMode, 'byok');
    await setMode('neo'); // without publishing: still the cached state
    assert.equal((await svc.ownerState(owner)).storedMode, 'byok');
    bus.publish('owner', ownerKey(owner));
    assert.equal((await svc.ownerState(owner)).storedMode, 'neo');
  });

  it('does not cache a load that raced an invalidation', async () => {
    await setMode('byok');
    bus.publish('owner', ownerKey(owner));
    const racing = svc.ownerState(owner); // reads while the change below commits
    bus.publish('owner', ownerKey(owner));
    await racing;
    await setMode('neo'); // not published: only an uncached state can see it
    assert.equal((await svc.ownerState(owner)).storedMode, 'neo');
  });

  it('shares one load between concurrent callers', async () => {
    bus.publish('owner', ownerKey(owner));
    const [a, b] = await Promise.all([svc.ownerState(owner), svc.ownerState(owner)]);
    assert.equal(a, b);
  });
});
