/**
 * Events for webhooks: the one envelope every event type shares (docs/webhooks.md) and
 * the outbox row that carries it, written in the transaction of the change. `data` is
 * never a secret.
 */
import type { Insertable } from 'kysely';
import type { OutboxTable, Owner } from './schema.ts';

export interface EventInput {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

/** The JSON body receivers get. */
export function eventPayload(owner: Owner, e: EventInput): string {
  return JSON.stringify({
    id: e.id,
    type: e.type,
    timestamp: e.createdAt,
    resource_type: owner.type,
    resource_id: owner.id,
    data: e.data,
  });
}

/** The outbox row of an event, due at once. */
export function outboxRow(owner: Owner, e: EventInput): Insertable<OutboxTable> {
  return {
    id: e.id,
    owner_type: owner.type,
    owner_id: owner.id,
    event_type: e.type,
    payload: eventPayload(owner, e),
    created_at: e.createdAt,
    dispatched_at: null,
    next_attempt_at: e.createdAt,
    lease_owner: null,
    lease_until: null,
  };
}
