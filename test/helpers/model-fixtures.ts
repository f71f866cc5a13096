/**
 * Fixtures of the models / user / resolve suites: every provider fake started at once
 * (the six key providers, Google OAuth + Vertex, AWS STS + Bedrock, Azure), credentials
 * each fake accepts, and helpers that save keys and modes through the real endpoints.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { nowIso } from '../../src/db/index.ts';
import type { Owner } from '../../src/modules/auth/owner.ts';
import { ownerKey } from '../../src/modules/auth/owner.ts';
import type { ProviderName } from '../../src/providers/types.ts';
import { azureKey, makeServiceAccount, startAwsFake, startAzureFake, startGoogleFake, type AwsFake, type AzureFake, type GoogleFake } from '../fakes/cloud-providers.ts';
import { startFakeKeyProviders, type FakeKeyProviders } from '../fakes/key-providers.ts';
import type { TestContext } from './context.ts';
import type { TestUser } from './fixtures.ts';

export interface ProviderFakes {
  keys: FakeKeyProviders;
  google: GoogleFake;
  aws: AwsFake;
  azure: AzureFake;
  /** Environment for createTestContext: every NEO_PROVIDER_URL_* and the Azure allow list. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startProviderFakes(): Promise<ProviderFakes> {
  const [keys, google, aws, azure] = await Promise.all([startFakeKeyProviders(), startGoogleFake(), startAwsFake(), startAzureFake()]);
  const env = {
    ...keys.env,
    NEO_PROVIDER_URL_GOOGLE_VERTEX: google.url,
    NEO_PROVIDER_URL_GOOGLE_OAUTH: google.url,
    NEO_PROVIDER_URL_AMAZON_BEDROCK: aws.url,
    NEO_PROVIDER_URL_AWS_STS: aws.url,
    NEO_AZURE_ALLOWED_HOSTS: new URL(azure.url).host,
    NEO_PROVIDER_TIMEOUT_MS: '3000',
  };
  return {
    keys,
    google,
    aws,
    azure,
    env,
    close: async () => {
      await Promise.all([keys.close(), google.close(), aws.close(), azure.close()]);
    },
  };
}

export interface Credential {
  api_key: string;
  location?: string | null;
}

/** A fresh credential the fakes accept for `provider` (registered with the cloud fakes). */
export function acceptedCredential(fakes: ProviderFakes, provider: ProviderName, variant: 'sigv4' | 'bearer' = 'sigv4'): Credential {
  const tag = randomBytes(8).toString('hex');
  switch (provider) {
    case 'openai':
      return { api_key: `sk-proj-${tag}ABCDEFGHIJKLMNOP` };
    case 'anthropic':
      return { api_key: `sk-ant-api03-${tag}ABCDEFGHIJ` };
    case 'google':
      return { api_key: `AIzaSy${tag}ABCDEFGHIJKLMNOPQRS` };
    case 'xai':
      return { api_key: `xai-${tag}ABCDEFGHIJKLMNOP` };
    case 'openrouter':
      return { api_key: `sk-or-v1-${tag}ABCDEFGHIJKLMNOP` };
    case 'vercel-gateway':
      return { api_key: `vck_${tag}ABCDEFGHIJKLMNOP` };
    case 'google-vertex': {
      const sa = makeServiceAccount();
      fakes.google.addAccount(sa);
      return { api_key: sa.json, location: 'us-central1' };
    }
    case 'amazon-bedrock': {
      if (variant === 'bearer') {
        const key = `ABSKQmVkcm9ja0FQSUtleS${tag}`;
        fakes.aws.bearerKeys.add(key);
        return { api_key: key, location: fakes.aws.region };
      }
      const id = fakes.aws.addIdentity({ temporary: true });
      return { api_key: JSON.stringify(id), location: fakes.aws.region };
    }
    case 'azure-foundry': {
      const key = azureKey();
      fakes.azure.keys.add(key);
      return { api_key: key, location: fakes.azure.url };
    }
  }
}

/** Saves a key through PATCH /api/v1/byok/providers/{provider}; asserts it was accepted. */
export async function saveKey(ctx: TestContext, caller: TestUser, provider: ProviderName, cred: Credential): Promise<Record<string, unknown>> {
  const res = await ctx.app.inject({
    method: 'PATCH',
    url: `/api/v1/byok/providers/${provider}`,
    headers: caller.headers,
    payload: { api_key: cred.api_key, ...(cred.location !== undefined ? { location: cred.location } : {}) },
  });
  assert.equal(res.statusCode, 200, `save ${provider} key: ${res.body.slice(0, 300)}`);
  const body = res.json();
  assert.equal(body.validation.valid, true, `${provider} key accepted by the fake: ${JSON.stringify(body.validation)}`);
  return body;
}

/** Sets the mode through PATCH /api/v1/byok/mode; asserts 200. */
export async function setMode(ctx: TestContext, caller: TestUser, mode: 'neo' | 'byok'): Promise<void> {
  const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/mode', headers: caller.headers, payload: { mode } });
  assert.equal(res.statusCode, 200, `set mode ${mode}: ${res.body.slice(0, 300)}`);
}

/**
 * Replaces the discovered model list of an owner's key (as a later save with another
 * listing would) and publishes the change like the BYOK service does.
 */
export async function setListedModels(ctx: TestContext, owner: Owner, provider: ProviderName, models: string[] | null): Promise<void> {
  const r = await ctx.database.db
    .updateTable('provider_keys')
    .set({ models: models ? JSON.stringify(models) : null, models_discovered_at: models ? nowIso() : null })
    .where('owner_type', '=', owner.type)
    .where('owner_id', '=', owner.id)
    .where('provider', '=', provider)
    .executeTakeFirst();
  assert.equal(Number(r.numUpdatedRows), 1, `the owner has a ${provider} key`);
  ctx.app.services.bus.publish('owner', ownerKey(owner));
}
