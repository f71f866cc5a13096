/** The internal (credential resolution) module's wiring (called by the composition root, src/app.ts). */
import type { KeyVault } from '../../crypto/vault.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import type { AuthService } from '../auth/auth.service.ts';
import { clockOption, type BackgroundJobs, type ModuleContext } from '../context.ts';
import type { UsageRecorder } from '../keyhealth/usage.ts';
import type { ModelsService } from '../models/models.service.ts';
import type { OidcIssuer } from '../oidc/issuer.ts';
import { ResolveBatchService } from './resolve-batch.service.ts';
import { ResolveService } from './resolve.service.ts';
import { ShortLivedCredentials } from './short-lived.ts';

export interface InternalModule {
  resolver: ResolveService;
  /** POST /internal/v1/credentials/resolve-batch. */
  resolveBatch: ResolveBatchService;
  shortLived: ShortLivedCredentials;
  /** The background refresh of short-lived cloud credentials. */
  jobs: BackgroundJobs;
}

export function createResolver(
  ctx: ModuleContext,
  uses: { auth: AuthService; models: ModelsService; vault: KeyVault; providers: ProviderRegistry; oidc: OidcIssuer; usage: UsageRecorder },
): InternalModule {
  const { config } = ctx;
  const { vault } = uses;
  // Keyless connections and short_lived resolve: short-lived cloud credentials, cached per owner, refreshed in the background.
  const shortLived = new ShortLivedCredentials({
    providers: uses.providers,
    oidc: uses.oidc,
    decrypt: (owner, provider, ciphertext, location) => vault.decrypt(owner, provider, ciphertext, location),
    fetch: ctx.fetch,
    providerUrls: config.providerUrls,
    providerTimeoutMs: config.providerTimeoutMs,
    log: ctx.log,
    metrics: ctx.metrics,
    bus: ctx.bus,
    ...clockOption(ctx),
  });
  const resolveDeps = { auth: uses.auth, models: uses.models, vault, metrics: ctx.metrics, usage: uses.usage, shortLived };
  const resolver = new ResolveService(resolveDeps);
  const resolveBatch = new ResolveBatchService(resolveDeps);
  return { resolver, resolveBatch, shortLived, jobs: shortLived };
}
