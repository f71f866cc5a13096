/**
 * The re-check scheduler of one instance: every `pollMs` (and at once when a runtime
 * report made a key due) it writes due expiry reminders and runs the due re-checks
 * (KeyHealthService.runDue, which claims keys under a database lease). The schedule
 * itself lives in the database (`next_check_at`), so it survives restarts and is shared
 * by every instance. Rounds never overlap within an instance.
 */
import { PollLoop } from '../../lib/poll-loop.ts';
import type { KeyHealthLogger, KeyHealthService } from './keyhealth.service.ts';

export interface SchedulerOptions {
  /** Time between two polls (default 30 s). */
  pollMs?: number;
  log?: KeyHealthLogger;
}

export class KeyHealthScheduler {
  private readonly loop: PollLoop;

  constructor(
    private readonly health: KeyHealthService,
    options: SchedulerOptions = {},
  ) {
    this.loop = new PollLoop({
      pollMs: options.pollMs ?? 30_000,
      firstDelayMaxMs: 5000,
      round: () => this.round(),
      onError: (err) => {
        options.log?.error?.({ event: 'key_health.round_failed', err: (err as Error)?.message?.slice(0, 200) }, 'key health round failed');
      },
    });
  }

  start(): void {
    this.health.onDue = () => this.wake();
    this.loop.start();
  }

  /** Runs a round soon (after the current one, if any). */
  wake(): void {
    this.loop.wake();
  }

  /** Stops polling and waits for a round in progress. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** One round: expiry reminders, then every due re-check. */
  async round(): Promise<void> {
    await this.health.scanExpiry();
    await this.health.runDue();
  }
}
