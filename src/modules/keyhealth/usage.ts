/**
 * `last_used_at` off the request path: resolve only notes the key id in memory
 * (`touch`, O(1), no I/O); a timer flushes the noted keys in ONE statement. A key is
 * written at most once per `minIntervalMs` (default a minute) per instance, so a key
 * resolved a thousand times a second costs one row update a minute.
 */
import { PollLoop } from '../../lib/poll-loop.ts';
import type { KeyHealthRepo } from './keyhealth.repo.ts';

export interface UsageRecorderOptions {
  clock?: () => number;
  /** Minimum time between two writes of one key (default 60 s). */
  minIntervalMs?: number;
  /** Flush period (default 10 s). */
  flushMs?: number;
  /** Keys remembered at most (written-time map); beyond it the oldest are forgotten. */
  maxKeys?: number;
  onError?: (err: unknown) => void;
}

export class UsageRecorder {
  private pending = new Map<string, number>();
  private readonly written = new Map<string, number>();
  private readonly loop: PollLoop;
  private flushing: Promise<void> | undefined;
  private readonly clock: () => number;
  private readonly minIntervalMs: number;
  private readonly maxKeys: number;

  constructor(
    private readonly repo: Pick<KeyHealthRepo, 'touchUsed'>,
    private readonly options: UsageRecorderOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.minIntervalMs = options.minIntervalMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 100_000;
    const flushMs = options.flushMs ?? 10_000;
    // flush() reports its own failures to onError.
    this.loop = new PollLoop({ pollMs: flushMs, firstDelayMaxMs: flushMs, round: () => this.flush(), onError: (err) => this.options.onError?.(err) });
  }

  /** Notes that a key was just handed out (no I/O). */
  touch(keyId: string): void {
    const now = this.clock();
    const last = this.written.get(keyId);
    if (last !== undefined && now - last < this.minIntervalMs) return;
    if (!this.pending.has(keyId)) this.pending.set(keyId, now);
  }

  /** Starts the periodic flush (src/lib/poll-loop.ts). */
  start(): void {
    this.loop.start();
  }

  /** Stops the periodic flush and writes what is pending. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.flush();
  }

  /** Writes every pending key in one statement. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [id, at] of batch) {
      this.written.delete(id);
      this.written.set(id, at);
    }
    while (this.written.size > this.maxKeys) this.written.delete(this.written.keys().next().value!);
    this.flushing = this.repo
      .touchUsed([...batch].map(([id, at]) => ({ id, at: new Date(at).toISOString() })))
      .catch((err: unknown) => this.options.onError?.(err))
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }
}
