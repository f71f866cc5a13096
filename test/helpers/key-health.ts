/**
 * The setup the key-health tests share: the provider fakes, an OpenAI fake whose keys
 * can be revoked (the re-check path), and a test context pointed at them with a clock
 * the test controls; a stored key as the API shows it, and the fixtures that make one.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startRevocableOpenAi, type RevocableOpenAi } from '../fakes/revocable-openai.ts';
import { createTestContext, type TestContext } from './context.ts';
import type { TestDialect } from './databases.ts';
import { createUser, setByok, uniqueEmail, type TestUser } from './fixtures.ts';
import { acceptedCredential, startProviderFakes, type ProviderFakes } from './model-fixtures.ts';

/** A stored key as GET /byok/providers lists it (the fields the key-health tests read). */
export interface KeyView {
  id: string;
  provider: string;
  status: string;
  is_validated: boolean;
  last_checked_at: string | null;
  last_check_outcome: string | null;
  last_check_message?: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  credential_version: number;
}

export interface KeyHealthWorld {
  ctx: TestContext;
  fakes: ProviderFakes;
  openai: RevocableOpenAi;
  close(): Promise<void>;
}

export async function startKeyHealthWorld(dialect: TestDialect, clock: () => number): Promise<KeyHealthWorld> {
  const fakes = await startProviderFakes();
  const openai = await startRevocableOpenAi();
  const ctx = await createTestContext({ dialect, env: { ...fakes.env, NEO_PROVIDER_URL_OPENAI: openai.url }, deps: { clock } });
  return {
    ctx,
    fakes,
    openai,
    close: async () => {
      await ctx.close();
      await openai.close();
      await fakes.close();
    },
  };
}

/**
 * Starts the world before the suite's tests and stops it after them (node:test hooks of
 * the enclosing `describe`); `ready` receives it once started.
 */
export function useKeyHealthWorld(dialect: TestDialect, clock: () => number, ready: (world: KeyHealthWorld) => void): void {
  let world: KeyHealthWorld | undefined;
  before(async () => {
    world = await startKeyHealthWorld(dialect, clock);
    ready(world);
  });
  after(() => world?.close());
}

/** A solo user with the `byok` flag on. */
export async function soloByokUser(ctx: TestContext, prefix: string): Promise<TestUser> {
  const user = await createUser(ctx, uniqueEmail(prefix));
  await setByok(ctx, user.owner);
  return user;
}

/** Saves an OpenAI key the fake accepts; the secret and the key as the save answered it. */
export async function saveOpenAiKey(ctx: TestContext, fakes: ProviderFakes, user: TestUser): Promise<{ secret: string; key: KeyView }> {
  const secret = acceptedCredential(fakes, 'openai').api_key;
  const res = await ctx.app.inject({ method: 'PATCH', url: '/api/v1/byok/providers/openai', headers: user.headers, payload: { api_key: secret } });
  assert.equal(res.statusCode, 200, res.body);
  return { secret, key: res.json<{ provider_key: KeyView }>().provider_key };
}

/** The user's key of a provider as GET /byok/providers lists it. */
export async function listedKey(ctx: TestContext, user: TestUser, provider = 'openai'): Promise<KeyView> {
  const res = await ctx.app.inject({ method: 'GET', url: '/api/v1/byok/providers', headers: user.headers });
  return res.json<{ provider_keys: KeyView[] }>().provider_keys.find((k) => k.provider === provider)!;
}
