/**
 * The re-check scheduler of one instance: every `pollMs` (and at once when a runtime
 * report made a key due) it writes due expiry reminders and runs the due re-checks
 * (KeyHealthService.runDue, which claims keys under a database lease). The schedule
 * itself lives in the database (`next_check_at`), so it survives restarts and is shared
 * by every instance. Rounds never overlap within an instance.
 */
import type { KeyHealthLogger, KeyHealthService } from './keyhealth.service.ts';

export interface SchedulerOptions {
  /** Time between two polls (default 30 s). */
  pollMs?: number;
  log?: KeyHealthLogger;
}

export class KeyHealthScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly pollMs: number;

  constructor(
    private readonly health: KeyHealthService,
    private readonly options: SchedulerOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 30_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.health.onDue = () => this.wake();
    this.schedule(Math.floor(Math.random() * Math.min(this.pollMs, 5000)));
  }

  /** Runs a round soon (after the current one, if any). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /** Stops polling and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round: expiry reminders, then every due re-check. */
  async round(): Promise<void> {
    await this.health.scanExpiry();
    await this.health.runDue();
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round()
        .catch((err: unknown) => {
          this.options.log?.error?.({ event: 'key_health.round_failed', err: (err as Error)?.message?.slice(0, 200) }, 'key health round failed');
        })
        .finally(() => {
          this.running = undefined;
          if (this.stopped) return;
          const next = this.again ? 0 : this.pollMs;
          this.again = false;
          this.schedule(next);
        });
    }, ms);
    this.timer.unref();
  }
}
