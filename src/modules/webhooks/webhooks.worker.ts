/**
 * The delivery worker of one instance (docs/webhooks.md "Delivery").
 *
 * A round first hands new outbox events to the owner's subscribed endpoints (one
 * delivery row per endpoint and event, in the transaction that marks the event
 * dispatched), then sends the due deliveries. Both steps claim their rows in the
 * database: outbox events with `FOR UPDATE SKIP LOCKED` inside the dispatching
 * transaction, deliveries with a lease (`lease_owner`, `lease_until`) taken in a short
 * transaction and released with the attempt's result. So with several instances each
 * delivery is attempted by one instance at a time; an instance that dies mid-attempt
 * leaves a lease that expires, and the delivery is attempted again (at least once).
 *
 * Results: 2xx → delivered; 410 → failed and the endpoint disabled (`gone`); anything
 * else (another status, a refused address, a timeout) → retried after the next delay of
 * the schedule with ±10 % jitter, failed once the schedule is exhausted; an endpoint
 * whose attempts have all failed for 3 days is disabled (`failing`) with an audit event.
 * Every time comes from the injected clock, except the `webhook-timestamp` header, which
 * is the wall clock (it is what a receiver compares with its own clock).
 */
import { randomUUID } from 'node:crypto';
import { withTransaction, type Db, type Dialect } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import { DecryptionError, type KeyVault } from '../../crypto/vault.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { PollLoop } from '../../lib/poll-loop.ts';
import type { Owner } from '../auth/owner.ts';
import { postWebhook, type LookupFn } from './safe-http.ts';
import { signDelivery } from './signing.ts';
import { ATTEMPT_TIMEOUT_MS, DELIVERY_EVENT_TYPES, DELIVERY_LEASE_MS, DISABLE_AFTER_FAILING_MS } from './webhooks.events.ts';
import { parseEvents } from './webhooks.service.ts';
import { WebhooksRepo, type AttemptResult, type ClaimedDelivery, type NewDelivery } from './webhooks.repo.ts';

export interface WorkerLogger {
  info(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
  error?(obj: object, msg: string): void;
}

export interface WebhookWorkerDeps {
  db: Db;
  dialect: Dialect;
  vault: Pick<KeyVault, 'decryptWebhookSecret'>;
  allowedHttpHosts: readonly string[];
  /** Delay before each retry (ms): after attempt n fails, retry n waits retryScheduleMs[n-1]. */
  retryScheduleMs: readonly number[];
  clock?: () => number;
  random?: () => number;
  /** Wall clock of the webhook-timestamp header. */
  wallClock?: () => number;
  metrics?: Metrics;
  log?: WorkerLogger;
  instanceId?: string;
  /** Time between two polls of the outbox and the due deliveries (default 1 s). */
  pollMs?: number;
  /** Deliveries sent at once by this instance (default 8). */
  concurrency?: number;
  /** Replaces the HTTP call (tests of the worker without a network; production passes none). */
  post?: typeof postWebhook;
  /** DNS for the delivery's URL (tests answer it; the system resolver when not given). */
  lookup?: LookupFn;
}

const USER_AGENT = 'neo-byok-webhooks/1';
/** How long dispatched outbox events and finished deliveries (the delivery log) are kept. */
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;
export const DELIVERY_RETENTION_MS = 30 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
/** Claim-and-send batches per round (each up to `concurrency` deliveries). */
const ROUND_BATCHES = 25;
const DISPATCH_BATCH = 100;

export class WebhookWorker {
  readonly repo: WebhooksRepo;
  readonly instanceId: string;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly wallClock: () => number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly post: typeof postWebhook;
  private readonly loop: PollLoop;
  /** Set by stop(): a round in progress stops claiming (what it claimed is finished). */
  private stopping = false;
  private lastIdMs = 0;
  private lastPruneMs = Number.NEGATIVE_INFINITY;
  /** The last round stopped at its batch limit: more may be due. */
  private more = false;

  constructor(private readonly deps: WebhookWorkerDeps) {
    this.repo = new WebhooksRepo(deps.db, deps.dialect);
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.wallClock = deps.wallClock ?? Date.now;
    this.instanceId = deps.instanceId ?? randomUUID();
    this.pollMs = deps.pollMs ?? 1000;
    this.concurrency = deps.concurrency ?? 8;
    this.post = deps.post ?? postWebhook;
    this.loop = new PollLoop({
      pollMs: this.pollMs,
      firstDelayMaxMs: 1000,
      random: this.random,
      round: () => this.round(),
      more: () => this.more,
      onError: (err) => {
        this.deps.log?.error?.({ event: 'webhook.round_failed', err: (err as Error)?.message?.slice(0, 200) }, 'webhook delivery round failed');
      },
    });
  }

  start(): void {
    if (this.loop.start()) this.stopping = false;
  }

  /** Runs a round soon (after the current one, if any). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops polling and waits for a round in progress (its attempts finish or time out within 5 s). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
  }

  /** One round: dispatch every new event, then send every due delivery. Answers the ids of the deliveries attempted. */
  async round(): Promise<string[]> {
    while (!this.stopping && (await this.dispatch()) > 0);
    // Bounded, so that new events are dispatched between batches of a long backlog
    // (a receiver that times out holds its batch 5 s); the next round follows at once.
    const attempted = await this.deliverDue(ROUND_BATCHES);
    this.more = attempted.length >= ROUND_BATCHES * this.concurrency;
    if (!this.stopping && this.clock() - this.lastPruneMs >= PRUNE_EVERY_MS) {
      this.lastPruneMs = this.clock();
      await this.prune();
    }
    return attempted;
  }

  /**
   * Retention: dispatched outbox events older than 7 days and finished deliveries
   * (delivered or failed) older than 30 days are deleted, so neither table grows without
   * bound. Pending deliveries are never deleted. Answers how many rows went.
   */
  async prune(): Promise<{ events: number; deliveries: number }> {
    const nowMs = this.clock();
    return this.repo.prune(new Date(nowMs - OUTBOX_RETENTION_MS).toISOString(), new Date(nowMs - DELIVERY_RETENTION_MS).toISOString());
  }

  /**
   * Hands up to one batch of undispatched outbox events to the enabled endpoints of
   * their owners that subscribe to their type, and marks them dispatched, in one
   * transaction. Answers how many events were dispatched.
   */
  async dispatch(): Promise<number> {
    // Polled every second by every instance: an idle poll is one indexed read, no write transaction.
    if (!(await this.repo.hasUndispatched())) return 0;
    return withTransaction(this.deps.db, async (trx) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      const events = await repo.claimOutbox(DISPATCH_BATCH);
      if (events.length === 0) return 0;
      const owners = new Map<string, Owner>();
      for (const e of events) owners.set(`${e.owner_type}:${e.owner_id}`, { type: e.owner_type, id: e.owner_id });
      const endpoints = await repo.enabledEndpointsOf([...owners.values()]);
      const now = new Date(this.clock()).toISOString();
      const deliveries: NewDelivery[] = [];
      for (const e of events) {
        for (const ep of endpoints) {
          if (ep.owner_type !== e.owner_type || ep.owner_id !== e.owner_id) continue;
          if (!(parseEvents(ep.events) as string[]).includes(e.event_type)) continue;
          deliveries.push({
            id: this.newId(),
            endpoint_id: ep.id,
            owner_type: e.owner_type,
            owner_id: e.owner_id,
            event_id: e.id,
            event_type: e.event_type,
            payload: e.payload,
            next_attempt_at: now,
            created_at: now,
          });
        }
      }
      for (let i = 0; i < deliveries.length; i += 200) await repo.insertDeliveries(deliveries.slice(i, i + 200));
      await repo.markDispatched(
        events.map((e) => e.id),
        now,
      );
      return events.length;
    });
  }

  /** Claims and sends due deliveries until none is due; answers the ids attempted. */
  async deliverDue(maxRounds = 1000): Promise<string[]> {
    const attempted: string[] = [];
    for (let i = 0; i < maxRounds && !this.stopping; i++) {
      const nowMs = this.clock();
      if (!(await this.repo.hasDue(new Date(nowMs).toISOString()))) break;
      const claimed = await withTransaction(this.deps.db, (trx) =>
        new WebhooksRepo(trx, this.deps.dialect).claimDue(new Date(nowMs).toISOString(), new Date(nowMs + DELIVERY_LEASE_MS).toISOString(), this.instanceId, this.concurrency),
      );
      if (claimed.length === 0) break;
      await Promise.all(
        claimed.map(async (d) => {
          try {
            await this.attempt(d);
            attempted.push(d.id);
          } catch (err) {
            // A database failure while recording: the lease expires and the delivery is attempted again.
            this.deps.log?.error?.({ event: 'webhook.attempt_failed', delivery_id: d.id, err: (err as Error)?.name }, 'webhook delivery attempt could not be recorded');
          }
        }),
      );
    }
    return attempted;
  }

  /** Sends one claimed delivery and records the result. */
  private async attempt(d: ClaimedDelivery): Promise<void> {
    const owner: Owner = { type: d.owner_type, id: d.owner_id };
    if (d.enabled !== 1) {
      await this.record(d, { status: 'failed', next_attempt_at: null, last_attempt_at: d.last_attempt_at ?? new Date(this.clock()).toISOString(), last_status_code: d.last_status_code, last_error: 'the endpoint is disabled', last_response_excerpt: d.last_response_excerpt, delivered_at: null }, 'failed', false);
      return;
    }
    let secrets: string[];
    try {
      secrets = [await this.deps.vault.decryptWebhookSecret(owner, d.endpoint_id, d.secret_ciphertext)];
      if (d.previous_secret_ciphertext && d.previous_secret_expires_at && Date.parse(d.previous_secret_expires_at) > this.clock()) {
        secrets.push(await this.deps.vault.decryptWebhookSecret(owner, d.endpoint_id, d.previous_secret_ciphertext));
      }
    } catch (err) {
      if (!(err instanceof DecryptionError)) throw err;
      // Nothing can be signed: no attempt is made; rotating the secret repairs the endpoint.
      const now = new Date(this.clock()).toISOString();
      const message = 'the signing secret cannot be decrypted (altered, moved, or its master key is not configured); rotate the secret';
      await this.record(d, { status: 'failed', next_attempt_at: null, last_attempt_at: now, last_status_code: null, last_error: message, last_response_excerpt: null, delivered_at: null }, 'failed', false);
      return;
    }
    const sentAt = new Date(Math.floor(this.wallClock() / 1000) * 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': d.event_id,
      'webhook-timestamp': String(sentAt.getTime() / 1000),
      'webhook-signature': signDelivery(secrets, d.event_id, sentAt, d.payload),
    };
    const res = await this.post(d.url, d.payload, headers, { allowedHttpHosts: this.deps.allowedHttpHosts, timeoutMs: ATTEMPT_TIMEOUT_MS, ...(this.deps.lookup ? { lookup: this.deps.lookup } : {}) });
    const nowMs = this.clock();
    const now = new Date(nowMs).toISOString();
    const base = { last_attempt_at: now, last_status_code: res.status ?? null, last_error: res.error ? res.error.slice(0, 300) : null, last_response_excerpt: res.excerpt ? res.excerpt.slice(0, 300) : null };
    if (res.status !== undefined && res.status >= 200 && res.status < 300 && !res.error) {
      await this.record(d, { ...base, status: 'delivered', next_attempt_at: null, delivered_at: now }, 'delivered', 'success');
      return;
    }
    if (res.status === 410) {
      await this.record(d, { ...base, status: 'failed', next_attempt_at: null, delivered_at: null }, 'endpoint_gone', 'gone');
      return;
    }
    const attemptNo = Number(d.attempts) + 1;
    const delay = this.deps.retryScheduleMs[attemptNo - 1];
    if (delay === undefined) {
      await this.record(d, { ...base, status: 'failed', next_attempt_at: null, delivered_at: null }, 'failed', 'failure');
      return;
    }
    const jittered = Math.round(delay * (0.9 + 0.2 * this.random()));
    await this.record(d, { ...base, status: 'pending', next_attempt_at: new Date(nowMs + jittered).toISOString(), delivered_at: null }, 'retrying', 'failure');
  }

  /**
   * Writes the attempt's result and what it means for the endpoint, in one transaction:
   * a success ends the failure streak; a 410 disables the endpoint (`gone`); a failure
   * starts or extends the streak and, 3 days into it, disables the endpoint (`failing`)
   * with an audit event. Nothing is written when this instance lost the lease.
   */
  private async record(d: ClaimedDelivery, result: AttemptResult, outcome: string, effect: 'success' | 'failure' | 'gone' | false): Promise<void> {
    const disabled = await withTransaction(this.deps.db, async (trx) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      const ep = await repo.lockEndpoint(d.endpoint_id);
      // Disabled while this attempt ran (by its owner, or by another attempt's result): no retry.
      if (ep && ep.enabled !== 1 && result.status === 'pending') {
        result = { ...result, status: 'failed', next_attempt_at: null, last_error: result.last_error ?? 'the endpoint was disabled' };
      }
      if (!(await repo.finishAttempt(d.id, this.instanceId, result))) return undefined;
      if (!ep || effect === false) return null;
      const now = result.last_attempt_at;
      if (effect === 'success') {
        if (ep.failing_since !== null) await repo.updateById(ep.id, { failing_since: null, updated_at: ep.updated_at });
        return null;
      }
      let reason: 'gone' | 'failing' | null = effect === 'gone' ? 'gone' : null;
      const since = ep.failing_since ?? now;
      if (!reason && ep.enabled === 1 && Date.parse(now) - Date.parse(since) >= DISABLE_AFTER_FAILING_MS) reason = 'failing';
      if (reason && ep.enabled === 1) {
        await repo.updateById(ep.id, { enabled: 0, disabled_reason: reason, failing_since: since, updated_at: now });
        await repo.failPending(ep.id, reason === 'gone' ? 'the endpoint answered 410 Gone and was disabled' : 'the endpoint failed every attempt for 3 days and was disabled', now);
        await repo.insertAudit({ id: this.newId(), owner: { type: ep.owner_type, id: ep.owner_id }, action: 'webhook.disabled', outcome: reason, webhookId: ep.id, createdAt: now });
        return reason;
      }
      if (ep.failing_since === null) await repo.updateById(ep.id, { failing_since: since, updated_at: ep.updated_at });
      return null;
    });
    if (disabled === undefined) return;
    const eventType = DELIVERY_EVENT_TYPES.includes(d.event_type) ? d.event_type : 'other';
    this.deps.metrics?.webhookDeliveries.inc({ event_type: eventType, outcome });
    this.deps.log?.info(
      { event: 'webhook.attempt', delivery_id: d.id, webhook_id: d.endpoint_id, event_type: eventType, outcome, status_code: result.last_status_code, attempt: Number(d.attempts) + 1 },
      'webhook delivery attempt',
    );
    if (disabled) {
      this.deps.log?.warn?.({ event: 'webhook.disabled', webhook_id: d.endpoint_id, reason: disabled }, 'webhook endpoint disabled');
    }
  }

  private newId(): string {
    const ms = Math.max(this.clock(), this.lastIdMs + 1);
    this.lastIdMs = ms;
    return uuidv7(ms);
  }
}
