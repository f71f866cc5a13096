/**
 * Webhook endpoints of an owner (docs/webhooks.md): create with a signing secret shown
 * once, list, change, delete, rotate the secret (the previous one keeps signing for
 * 24 h), send a test `ping`, read the delivery log.
 *
 * Access is the BYOK write rule (solo user or team admin, `byok` flag on), checked by
 * the routes before the call and again under the owner lock for every write
 * (ByokService.runLocked), which also keeps "at most 10 endpoints" true under
 * concurrency. The URL is checked (https, no internal address; safe-http.ts) before the
 * transaction: a DNS lookup never runs under a lock.
 */
import type { Db, Dialect } from '../../db/index.ts';
import { uuidv7 } from '../../db/ids.ts';
import { eventPayload } from '../../db/outbox.ts';
import type { DeliveryStatus, WebhookDeliveryRow, WebhookEndpointRow } from '../../db/schema.ts';
import type { KeyVault } from '../../crypto/vault.ts';
import { invalid, notFound } from '../../errors/index.ts';
import { jsonStrings } from '../../lib/json.ts';
import type { Owner } from '../auth/owner.ts';
import type { Actor, ByokService } from '../byok/byok.service.ts';
import { checkWebhookUrl, type LookupFn } from './safe-http.ts';
import { newWebhookSecret } from './signing.ts';
import { MAX_ENDPOINTS_PER_OWNER, ROTATION_OVERLAP_MS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhooks.events.ts';
import { WebhooksRepo } from './webhooks.repo.ts';

export interface WebhookView {
  id: string;
  url: string;
  description: string | null;
  events: WebhookEventType[];
  enabled: boolean;
  /** Why the server disabled it: `gone` (the receiver answered 410), `failing` (every attempt failed for 3 days). */
  disabled_reason: 'gone' | 'failing' | null;
  /** Until when the previous secret still signs (after a rotation); null otherwise. */
  previous_secret_expires_at: string | null;
  /** Since when every attempt has failed; null while deliveries succeed. */
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeliveryView {
  id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_response_excerpt: string | null;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
}

export interface CreateInput {
  url: string;
  events: string[];
  description?: string | null;
}

export interface UpdateInput {
  url?: string;
  events?: string[];
  description?: string | null;
  enabled?: boolean;
}

export interface WebhooksServiceDeps {
  db: Db;
  dialect: Dialect;
  vault: KeyVault;
  byok: Pick<ByokService, 'runLocked'>;
  allowedHttpHosts: readonly string[];
  /** DNS for the URL check (tests answer it; the system resolver when not given). */
  lookup?: LookupFn;
  clock?: () => number;
  /** Called when a delivery became due now (the worker wakes up). */
  onDue?: () => void;
}

export const MAX_URL_LENGTH = 2048;
export const MAX_DESCRIPTION_LENGTH = 256;

export class WebhooksService {
  readonly repo: WebhooksRepo;
  private readonly clock: () => number;
  onDue: () => void;

  constructor(private readonly deps: WebhooksServiceDeps) {
    this.repo = new WebhooksRepo(deps.db, deps.dialect);
    this.clock = deps.clock ?? Date.now;
    this.onDue = deps.onDue ?? (() => undefined);
  }

  async list(owner: Owner): Promise<WebhookView[]> {
    const now = this.clock();
    return (await this.repo.list(owner)).map((r) => presentEndpoint(r, now));
  }

  /** POST /byok/webhooks: the endpoint and its secret (the only time it is shown, with rotation). */
  async create(owner: Owner, actor: Actor, input: CreateInput): Promise<{ webhook: WebhookView; secret: string }> {
    const events = cleanEvents(input.events);
    const description = cleanDescription(input.description ?? null);
    const url = await this.checkUrl(input.url);
    const secret = newWebhookSecret();
    const row = await this.deps.byok.runLocked(owner, actor, async (trx, now) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      if ((await repo.count(owner)) >= MAX_ENDPOINTS_PER_OWNER) {
        throw invalid(`at most ${MAX_ENDPOINTS_PER_OWNER} webhook endpoints per owner; delete one first`);
      }
      const id = uuidv7(this.clock());
      const r: WebhookEndpointRow = {
        id,
        owner_type: owner.type,
        owner_id: owner.id,
        url,
        description,
        events: JSON.stringify(events),
        enabled: 1,
        disabled_reason: null,
        secret_ciphertext: await this.deps.vault.encryptWebhookSecret(trx, owner, id, secret),
        previous_secret_ciphertext: null,
        previous_secret_expires_at: null,
        failing_since: null,
        created_at: now,
        updated_at: now,
      };
      await repo.insert(r);
      await repo.insertAudit({ id: uuidv7(this.clock()), owner, actor, action: 'webhook.created', webhookId: id, createdAt: now });
      return r;
    });
    return { webhook: presentEndpoint(row, this.clock()), secret };
  }

  /**
   * PATCH /byok/webhooks/{id}. Enabling clears the reason the server disabled it and the
   * failure streak; disabling fails the deliveries still pending.
   */
  async update(owner: Owner, actor: Actor, id: string, input: UpdateInput): Promise<WebhookView> {
    const events = input.events !== undefined ? cleanEvents(input.events) : undefined;
    const description = input.description !== undefined ? cleanDescription(input.description) : undefined;
    const url = input.url !== undefined ? await this.checkUrl(input.url) : undefined;
    const row = await this.deps.byok.runLocked(owner, actor, async (trx, now) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      const cur = await repo.get(owner, id);
      if (!cur) throw notFound('no such webhook endpoint');
      const set: Parameters<WebhooksRepo['update']>[2] = { updated_at: now };
      if (url !== undefined) set.url = url;
      if (events !== undefined) set.events = JSON.stringify(events);
      if (description !== undefined) set.description = description;
      if (input.enabled === true && cur.enabled !== 1) Object.assign(set, { enabled: 1, disabled_reason: null, failing_since: null });
      if (input.enabled === false && cur.enabled === 1) {
        set.enabled = 0;
        await repo.failPending(id, 'the endpoint was disabled', now);
      }
      const changed = changedFields(cur, set);
      if (changed.length > 0) await repo.insertAudit({ id: uuidv7(this.clock()), owner, actor, action: 'webhook.updated', webhookId: id, changedFields: changed, createdAt: now });
      return repo.update(owner, id, set);
    });
    if (!row) throw notFound('no such webhook endpoint');
    return presentEndpoint(row, this.clock());
  }

  async delete(owner: Owner, actor: Actor, id: string): Promise<{ deleted: true; id: string }> {
    await this.deps.byok.runLocked(owner, actor, async (trx, now) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      if (!(await repo.delete(owner, id))) throw notFound('no such webhook endpoint');
      await repo.insertAudit({ id: uuidv7(this.clock()), owner, actor, action: 'webhook.deleted', webhookId: id, createdAt: now });
    });
    return { deleted: true, id };
  }

  /**
   * POST /byok/webhooks/{id}/rotate-secret: a new secret (shown in this answer only); the
   * current one becomes the previous one and keeps signing for 24 h, so every delivery in
   * that window carries both signatures. A secret already in its overlap is dropped.
   */
  async rotateSecret(owner: Owner, actor: Actor, id: string): Promise<{ webhook: WebhookView; secret: string }> {
    const secret = newWebhookSecret();
    const row = await this.deps.byok.runLocked(owner, actor, async (trx, now) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      const cur = await repo.get(owner, id);
      if (!cur) throw notFound('no such webhook endpoint');
      await repo.insertAudit({ id: uuidv7(this.clock()), owner, actor, action: 'webhook.secret_rotated', webhookId: id, createdAt: now });
      return repo.update(owner, id, {
        secret_ciphertext: await this.deps.vault.encryptWebhookSecret(trx, owner, id, secret),
        previous_secret_ciphertext: cur.secret_ciphertext,
        previous_secret_expires_at: new Date(this.clock() + ROTATION_OVERLAP_MS).toISOString(),
        updated_at: now,
      });
    });
    if (!row) throw notFound('no such webhook endpoint');
    return { webhook: presentEndpoint(row, this.clock()), secret };
  }

  /** POST /byok/webhooks/{id}/test: queues a `ping` delivery due now and wakes the worker; a disabled endpoint → 400. */
  async test(owner: Owner, actor: Actor, id: string): Promise<DeliveryView> {
    const deliveryId = await this.deps.byok.runLocked(owner, actor, async (trx, now) => {
      const repo = new WebhooksRepo(trx, this.deps.dialect);
      const ep = await repo.get(owner, id);
      if (!ep) throw notFound('no such webhook endpoint');
      if (ep.enabled !== 1) throw invalid('the endpoint is disabled; enable it first (PATCH with enabled: true)');
      const eventId = uuidv7(this.clock());
      const payload = eventPayload(owner, { id: eventId, type: 'ping', createdAt: now, data: { webhook_id: id } });
      const did = uuidv7(this.clock());
      await repo.insertDeliveries([
        { id: did, endpoint_id: id, owner_type: owner.type, owner_id: owner.id, event_id: eventId, event_type: 'ping', payload, next_attempt_at: now, created_at: now },
      ]);
      return did;
    });
    this.onDue();
    const d = await this.repo.getDelivery(deliveryId);
    if (!d) throw new Error('delivery vanished after its commit');
    return presentDelivery(d);
  }

  /** GET /byok/webhooks/{id}/deliveries: newest first. */
  async deliveries(owner: Owner, id: string, limit: number, offset: number): Promise<{ data: DeliveryView[]; has_more: boolean; total: number }> {
    if (!(await this.repo.get(owner, id))) throw notFound('no such webhook endpoint');
    const { rows, total } = await this.repo.listDeliveries(owner, id, limit, offset);
    return { data: rows.map(presentDelivery), has_more: offset + rows.length < total, total };
  }

  /** The creation-time URL check (safe-http.ts): 400 invalid_request naming `url` and why. */
  private async checkUrl(raw: string): Promise<string> {
    if (raw.length > MAX_URL_LENGTH) throw invalid(`url must be at most ${MAX_URL_LENGTH} characters`);
    const r = await checkWebhookUrl(raw, { allowedHttpHosts: this.deps.allowedHttpHosts, ...(this.deps.lookup ? { lookup: this.deps.lookup } : {}) });
    // The reason is a sentence naming the field ("url must use https").
    if (!r.ok) throw invalid(r.reason);
    return r.url.href;
  }
}

function cleanEvents(events: readonly string[]): WebhookEventType[] {
  const known = new Set<string>(WEBHOOK_EVENT_TYPES);
  const bad = events.filter((e) => !known.has(e));
  if (bad.length) throw invalid(`events: unknown event type ${JSON.stringify(bad[0])}; known: ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  const unique = [...new Set(events)] as WebhookEventType[];
  if (unique.length === 0) throw invalid('events must name at least one event type');
  return WEBHOOK_EVENT_TYPES.filter((e) => unique.includes(e));
}

function cleanDescription(raw: string | null): string | null {
  if (raw === null) return null;
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalid('description must not contain control characters');
  const d = raw.trim();
  return d === '' ? null : d;
}

/** The public view of an endpoint: never the secret or its ciphertext. */
export function presentEndpoint(r: WebhookEndpointRow, nowMs: number): WebhookView {
  const overlap = r.previous_secret_expires_at && Date.parse(r.previous_secret_expires_at) > nowMs ? r.previous_secret_expires_at : null;
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: parseEvents(r.events),
    enabled: Number(r.enabled) === 1,
    disabled_reason: r.disabled_reason,
    previous_secret_expires_at: overlap,
    failing_since: r.failing_since,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

const KNOWN_EVENTS = new Set<string>(WEBHOOK_EVENT_TYPES);

/** The stored `events` of an endpoint (a JSON array); the known event types only, [] if unreadable. */
export function parseEvents(json: string): WebhookEventType[] {
  return (jsonStrings(json) ?? []).filter((e): e is WebhookEventType => KNOWN_EVENTS.has(e));
}

export function presentDelivery(d: WebhookDeliveryRow): DeliveryView {
  return {
    id: d.id,
    event_id: d.event_id,
    event_type: d.event_type,
    status: d.status,
    attempts: Number(d.attempts),
    last_status_code: d.last_status_code === null ? null : Number(d.last_status_code),
    last_error: d.last_error,
    last_response_excerpt: d.last_response_excerpt,
    last_attempt_at: d.last_attempt_at,
    next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
    delivered_at: d.delivered_at,
    created_at: d.created_at,
  };
}


/**
 * The fields a PATCH sets to a new value, for the audit row: names only, in a fixed
 * order (a URL can carry a token, so values are never recorded).
 */
function changedFields(cur: WebhookEndpointRow, set: Partial<WebhookEndpointRow>): string[] {
  const fields = ['url', 'events', 'description', 'enabled'] as const;
  return fields.filter((f) => set[f] !== undefined && set[f] !== cur[f]);
}
