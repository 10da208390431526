/**
 * How this node stops its runs: the one owner of signal → grace → kill (DESIGN §3). The
 * cancel executor's steps, the cancel agent (a cancel executed on another node), failFast,
 * timeouts (a cancel like any other) and shutdown all stop runs through it; what a cancel must
 * stop is decided by core (`runnersToStop`), how the stop is delivered is decided here.
 *
 * Its guarantees, each written once:
 * - the bookkeeping is synchronous: once `signal` returns, an exit counts as cancelled;
 * - a stop asked for before the runner has started is delivered the moment it starts;
 * - each run gets its own grace period, and is killed at its end if still alive;
 * - a run is signalled at most once and killed at most once, whichever path gets there first
 *   (its grace running out during `await_runners`, `force_kill`, a forced repeat, the agent).
 *
 * The runner owns the mechanism (SIGTERM/SIGKILL to a process group, a worker's AbortSignal
 * or termination, a remote job's cancel); this module owns when.
 */
import type { ActiveRun } from "./active-run.ts";

/** A run to stop and the grace it gets between the signal and the kill. */
export interface StopTarget {
  run: ActiveRun;
  graceMs: number;
}

/** Whether the run ends within `graceMs` (false: its grace ran out first). The timer is cleared either way. */
async function endsWithin(run: ActiveRun, graceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([run.done.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
  clearTimeout(timer);
  return ended;
}

export class StopPolicy {
  private readonly now: () => string;

  constructor(deps: { now: () => string }) {
    this.now = deps.now;
  }

  /** Deliver the cooperative stop. Returns false when it was already delivered. */
  signal(run: ActiveRun): boolean {
    if (run.signalSent) return false;
    run.signalSent = true;
    run.signalledAt = this.now();
    if (run.running === null) {
      run.stopWhenStarted ??= "signal";
      return true;
    }
    this.sendSignal(run);
    return true;
  }

  /** Force the stop. Returns false when the run was already killed: a run is killed once. */
  kill(run: ActiveRun): boolean {
    if (run.forced) return false;
    if (!run.signalSent) {
      run.signalSent = true;
      run.signalledAt = this.now();
    }
    this.sendKill(run);
    return true;
  }

  /** Kill the run unless it has ended within `graceMs`; resolves once it has ended or been killed. */
  async killAfterGrace(run: ActiveRun, graceMs: number): Promise<void> {
    const ended = await endsWithin(run, graceMs);
    if (!ended) this.kill(run);
  }

  /** Each run's grace, then its kill: resolves once every run has ended or been killed. */
  awaitGrace(targets: readonly StopTarget[]): Promise<void> {
    return Promise.all(targets.map(({ run, graceMs }) => this.killAfterGrace(run, graceMs))).then(() => undefined);
  }

  /**
   * The whole stop of runs that need no step of their own (the cancel agent, failFast):
   * `force` kills now; otherwise signal, then each run's grace, then the kill — in the
   * background. Returns the runs this call stopped (a run already signalled, or already
   * killed when forced, is left to the stop under way).
   */
  stop(targets: readonly StopTarget[], options: { force: boolean }): ActiveRun[] {
    const stopped: ActiveRun[] = [];
    for (const { run, graceMs } of targets) {
      if (options.force) {
        if (this.kill(run)) stopped.push(run);
      } else if (this.signal(run)) {
        void this.killAfterGrace(run, graceMs);
        stopped.push(run);
      }
    }
    return stopped;
  }

  /**
   * Shutdown (or this node declared dead): every run is interrupted — signal, `graceMs`,
   * kill — and this resolves once each end is stored. An interruption is not a cancel: a run
   * not already being cancelled is not marked signalled, so it goes back to `pending`.
   */
  interrupt(runs: readonly ActiveRun[], graceMs: number): Promise<void> {
    return this.interruptEach(runs.map((run) => ({ run, graceMs })));
  }

  /** `interrupt` with each run's own grace (a drain gives each task the grace its spec sets). */
  async interruptEach(targets: readonly StopTarget[]): Promise<void> {
    for (const { run } of targets) {
      run.interrupted = true;
      if (run.signalSent) continue; // A run being cancelled keeps its cancel's semantics.
      // When it was told to stop, for a drain's record; `signalSent` stays false (not a cancel).
      run.signalledAt ??= this.now();
      if (run.running === null) run.stopWhenStarted ??= "signal";
      else this.sendSignal(run);
    }
    await Promise.all(targets.map(async ({ run, graceMs }) => {
      const ended = await endsWithin(run, graceMs);
      if (ended || run.forced) return; // Ended, or killed already by its cancel.
      // Not marked `forced`: the runner reports a kill that ended it, and a run that ended
      // on its own just before must not be recorded as killed.
      if (run.running === null) run.stopWhenStarted = "kill";
      else void run.running.kill();
      await run.done;
    }));
  }

  /** The runner has just started: deliver a stop asked for before. */
  started(run: ActiveRun): void {
    const pending = run.stopWhenStarted;
    run.stopWhenStarted = null;
    if (pending === "kill") this.sendKill(run);
    else if (pending === "signal") this.sendSignal(run);
  }

  private sendSignal(run: ActiveRun): void {
    const running = run.running;
    if (running === null) return;
    void running.signal().then((acknowledged) => {
      if (acknowledged && run.acknowledgedAt === null && (run.signalSent || run.interrupted)) run.acknowledgedAt = this.now();
    });
  }

  private sendKill(run: ActiveRun): void {
    run.forced = true;
    if (run.running === null) run.stopWhenStarted = "kill";
    else void run.running.kill();
  }
}
