/** The webhooks module's wiring (called by the composition root, src/app.ts). */
import type { KeyVault } from '../../crypto/vault.ts';
import type { ByokService } from '../byok/byok.service.ts';
import { clockOption, type BackgroundJobs, type ModuleContext } from '../context.ts';
import { WebhooksService } from './webhooks.service.ts';
import { WebhookWorker } from './webhooks.worker.ts';

export interface WebhooksModule {
  webhooks: WebhooksService;
  webhookWorker: WebhookWorker;
  /** The delivery worker, when NEO_WEBHOOK_WORKER is on. */
  jobs: BackgroundJobs;
}

export function createWebhooks(ctx: ModuleContext, uses: { vault: KeyVault; byok: ByokService }): WebhooksModule {
  const { config } = ctx;
  const lookup = ctx.webhookLookup ? { lookup: ctx.webhookLookup } : {};
  const webhookWorker = new WebhookWorker({
    db: ctx.db,
    dialect: ctx.dialect,
    vault: uses.vault,
    allowedHttpHosts: config.webhooks.allowedHttpHosts,
    retryScheduleMs: config.webhooks.retryScheduleMs,
    metrics: ctx.metrics,
    log: ctx.log,
    ...clockOption(ctx),
    ...lookup,
  });
  const webhooks = new WebhooksService({
    db: ctx.db,
    dialect: ctx.dialect,
    vault: uses.vault,
    byok: uses.byok,
    allowedHttpHosts: config.webhooks.allowedHttpHosts,
    onDue: () => webhookWorker.wake(),
    ...clockOption(ctx),
    ...lookup,
  });
  ctx.metrics.webhookQueueSource = () => webhooks.repo.queueState();
  return {
    webhooks,
    webhookWorker,
    jobs: {
      start: () => {
        if (config.webhooks.worker) webhookWorker.start();
      },
      stop: () => webhookWorker.stop(),
    },
  };
}
