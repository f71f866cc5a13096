/** The key-health module's wiring (called by the composition root, src/app.ts). */
import type { KeyVault } from '../../crypto/vault.ts';
import type { ByokService } from '../byok/byok.service.ts';
import { clockOption, type BackgroundJobs, type ModuleContext } from '../context.ts';
import { KeyHealthScheduler } from './keyhealth.scheduler.ts';
import { KeyHealthService } from './keyhealth.service.ts';
import { UsageRecorder } from './usage.ts';

export interface KeyHealthModule {
  keyHealth: KeyHealthService;
  keyHealthScheduler: KeyHealthScheduler;
  usage: UsageRecorder;
  /** The `last_used_at` writer, and the scheduler when NEO_KEY_HEALTH_SCHEDULER is on. */
  jobs: BackgroundJobs;
}

export function createKeyHealth(ctx: ModuleContext, uses: { vault: KeyVault; byok: ByokService }): KeyHealthModule {
  const { config, metrics, log } = ctx;
  const { vault, byok } = uses;
  const keyHealth = new KeyHealthService({
    db: ctx.db,
    dialect: ctx.dialect,
    bus: ctx.bus,
    config: config.keyHealth,
    decrypt: (owner, provider, ciphertext, location) => vault.decrypt(owner, provider, ciphertext, location),
    check: (provider, apiKey, location, owner) => byok.checkCredential(provider, apiKey, location, owner),
    providerCallsPerMinute: config.rateLimit.providerCallsPerMinute,
    metrics,
    log,
    keyView: (owner, provider) => byok.keyView(owner, provider),
    ...clockOption(ctx),
  });
  const keyHealthScheduler = new KeyHealthScheduler(keyHealth, { log });
  metrics.keyStatusSource = () => keyHealth.repo.countByStatus();
  // last_used_at: noted in memory by resolve, written in one batch by a timer (never on the request path).
  const usage = new UsageRecorder(keyHealth.repo, {
    ...clockOption(ctx),
    onError: (err) => log.warn({ event: 'key_health.last_used_write_failed', err: (err as Error)?.name }, 'last_used_at write failed'),
  });
  return {
    keyHealth,
    keyHealthScheduler,
    usage,
    jobs: {
      start: () => {
        usage.start();
        if (config.keyHealth.scheduler) keyHealthScheduler.start();
      },
      stop: async () => {
        await keyHealthScheduler.stop();
        await usage.stop();
      },
    },
  };
}
