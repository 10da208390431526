/**
 * The stall watchdog's clock for one run (DESIGN §7 `stallTimeoutMs`): turns the run's
 * activity (progress, checkpoints, log lines) into a stored stall deadline, which the
 * `TimeoutSweep` of any node reads.
 *
 * Why at most one write a second: a chatty process logs thousands of lines a second, and a
 * write per line would put the watchdog on the hot path of every log line. One write per
 * `intervalMs` (1 s, or half the stall timeout if that is shorter: never, given the 1 s
 * minimum of `stallTimeoutMs`, below 500 ms) bounds the cost to one small UPDATE a second per
 * task. It never makes a busy task look stalled: activity after a write is stored by a
 * trailing write at most `intervalMs` later, and `intervalMs` ≤ stallTimeoutMs / 2, so the
 * newer deadline lands at least half a stall timeout before the stored one passes.
 */
export class StallClock {
  private readonly stallTimeoutMs: number;
  private readonly intervalMs: number;
  private readonly write: (deadlineMs: number) => Promise<void>;
  private readonly onError: (error: unknown) => void;
  private lastWriteMs = Number.NEGATIVE_INFINITY;
  private lastActivityMs = 0;
  private trailing: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(options: { stallTimeoutMs: number; write: (deadlineMs: number) => Promise<void>; onError: (error: unknown) => void }) {
    this.stallTimeoutMs = options.stallTimeoutMs;
    this.intervalMs = Math.min(1000, Math.floor(options.stallTimeoutMs / 2));
    this.write = options.write;
    this.onError = options.onError;
  }

  /** The run showed a sign of life now (it also starts the clock). */
  touch(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.lastActivityMs = now;
    if (this.trailing !== null) return;
    const dueInMs = this.lastWriteMs + this.intervalMs - now;
    if (dueInMs <= 0) this.flush();
    else this.trailing = setTimeout(() => this.flush(), dueInMs).unref();
  }

  /** The run ended: no more writes. */
  stop(): void {
    this.stopped = true;
    if (this.trailing !== null) clearTimeout(this.trailing);
    this.trailing = null;
  }

  private flush(): void {
    this.trailing = null;
    if (this.stopped) return;
    this.lastWriteMs = Date.now();
    this.write(this.lastActivityMs + this.stallTimeoutMs).catch(this.onError);
  }
}
