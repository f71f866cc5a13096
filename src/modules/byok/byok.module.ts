/** The BYOK module's wiring (called by the composition root, src/app.ts). */
import type { KeyVault } from '../../crypto/vault.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import { clockOption, type ModuleContext } from '../context.ts';
import type { FeaturesService } from '../features/features.service.ts';
import type { ModelsService } from '../models/models.service.ts';
import type { OidcIssuer } from '../oidc/issuer.ts';
import { ByokService } from './byok.service.ts';

export function createByok(
  ctx: ModuleContext,
  uses: {
    vault: KeyVault;
    providers: ProviderRegistry;
    features: FeaturesService;
    oidc: OidcIssuer;
    /** The models service, built after this one (GET /byok/mode reads its cached owner state per request). */
    models: () => ModelsService;
  },
): ByokService {
  const { config } = ctx;
  return new ByokService({
    db: ctx.db,
    dialect: ctx.dialect,
    vault: uses.vault,
    providers: uses.providers,
    features: uses.features,
    bus: ctx.bus,
    fetch: ctx.fetch,
    providerUrls: config.providerUrls,
    providerTimeoutMs: config.providerTimeoutMs,
    metrics: ctx.metrics,
    log: ctx.log,
    recheckIntervalMs: config.keyHealth.recheckIntervalMs,
    ...clockOption(ctx),
    // Cached mode and keys for GET /byok/mode.
    ownerState: (owner) => uses.models().ownerState(owner),
    oidc: uses.oidc,
  });
}
