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
export const TOPICS: readonly Topic[] = ['apikey', 'user', 'owner', 'datakey'];

/**
 * The key of a message that drops every entry of its topic: another process (the CLI
 * beside a server on the same SQLite file) wrote to the database and we cannot tell
 * what it changed. Every subscriber handles it.
 */
export const EVERYTHING = '*';

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

  /** Drops every cached entry of every topic in this process. */
  resetAll(): void {
    for (const t of TOPICS) this.deliver(t, EVERYTHING);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
