/**
 * Cache invalidation bus. In one process it is a synchronous event emitter; the
 * PostgreSQL/Redis implementations (src/db/notify.ts) also forward every published
 * message to the other instances, so each in-memory cache subscribes here and drops
 * what another instance changed.
 *
 * Topics: `apikey` (key = key hash), `user` (key = user id), `owner` (key = `type:id`),
 * `datakey` (key = `type:id`).
 */
import { EventEmitter } from 'node:events';

export type Topic = 'apikey' | 'user' | 'owner' | 'datakey';

export interface CacheBus {
  publish(topic: Topic, key: string): void;
  subscribe(topic: Topic, handler: (key: string) => void): void;
  close(): Promise<void>;
}

export class LocalBus implements CacheBus {
  protected readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  publish(topic: Topic, key: string): void {
    this.deliver(topic, key);
  }

  /** Delivers a message to this process's subscribers only. */
  deliver(topic: Topic, key: string): void {
    this.emitter.emit(topic, key);
  }

  subscribe(topic: Topic, handler: (key: string) => void): void {
    this.emitter.on(topic, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
