/**
 * A background loop of one instance: runs `round` every `pollMs`, and soon after `wake()`
 * (after the round in progress, if any). Rounds never overlap; a failed round is reported
 * to `onError` and the loop goes on. The timer never keeps the process alive. Used by the
 * key-health scheduler, the webhook delivery worker, the short-lived credential refresh
 * sweep and the `last_used_at` flush.
 */
export interface PollLoopOptions {
  /** Time between the end of one round and the start of the next. */
  pollMs: number;
  /** The first round starts after a random delay below this, so instances spread their polls. */
  firstDelayMaxMs: number;
  random?: () => number;
  round: () => Promise<unknown>;
  /** Asked after each round: true when more work may be due at once (the next round follows immediately). */
  more?: () => boolean;
  onError: (err: unknown) => void;
}

export class PollLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(private readonly options: PollLoopOptions) {}

  /** Starts polling; answers false when it was already running. */
  start(): boolean {
    if (!this.stopped) return false;
    this.stopped = false;
    const random = this.options.random ?? Math.random;
    this.schedule(Math.floor(random() * Math.min(this.options.pollMs, this.options.firstDelayMaxMs)));
    return true;
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

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.options
        .round()
        .then(() => undefined, this.options.onError)
        .finally(() => {
          this.running = undefined;
          if (this.stopped) return;
          const next = this.again || this.options.more?.() ? 0 : this.options.pollMs;
          this.again = false;
          this.schedule(next);
        });
    }, ms);
    this.timer.unref();
  }
}
