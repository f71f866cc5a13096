/**
 * The setup the key-health tests share: the provider fakes, an OpenAI fake whose keys
 * can be revoked (the re-check path), and a test context pointed at them with a clock
 * the test controls.
 */
import { startRevocableOpenAi, type RevocableOpenAi } from '../fakes/revocable-openai.ts';
import { createTestContext, type TestContext } from './context.ts';
import type { TestDialect } from './databases.ts';
import { startProviderFakes, type ProviderFakes } from './model-fixtures.ts';

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
