/** The OIDC issuer's wiring (called by the composition root, src/app.ts). */
import { clockOption, type ModuleContext } from '../context.ts';
import { OidcIssuer } from './issuer.ts';

/** The service as an OpenID Connect issuer (keyless cloud connections, docs/keyless-cloud.md). */
export function createOidcIssuer(ctx: ModuleContext): OidcIssuer {
  const { config } = ctx;
  return new OidcIssuer({
    db: ctx.db,
    ...(config.oidcIssuer ? { issuer: config.oidcIssuer } : {}),
    masterKey: config.masterKey,
    ...(config.masterKeyPrevious ? { masterKeyPrevious: config.masterKeyPrevious } : {}),
    bus: ctx.bus,
    ...clockOption(ctx),
  });
}
