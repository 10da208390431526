/**
 * The runs of this node: one `ActiveRun` per task attempt started here, from the claim to
 * the stored end of the attempt. Runs owns starting a runner and recording how the attempt
 * ended; stopping one is the `StopPolicy`'s (Runs only hands it the runner once started).
 */
import type { Logger } from "pino";
import { endAttempt, recordProgress, recordWarning, saveCheckpoint, stallTimeoutFor } from "../core/lifecycle.ts";
import type { AttemptEnd, AttemptEndResult } from "../core/lifecycle.ts";
import type { Job, Json, Task, TaskKind } from "../core/model.ts";
import type { ChildJobs, RunContext, Runner, RunnerExit, RunningTask } from "../runners/types.ts";
import type { Mutator, RunnerRecord, Store } from "../store/store.ts";
import type { ActiveRun } from "./active-run.ts";
import type { JobWriter } from "./job-writer.ts";
import { retryingWrite } from "./retry.ts";
import type { LogSink } from "./log-sink.ts";
import type { StopPolicy } from "./stop-policy.ts";
import type { Workspace } from "./workspace.ts";
import { crashPoint } from "./crash-points.ts";
import { StallClock } from "./stall-clock.ts";

export interface RunsDeps {
  store: Store;
  runners: Partial<Record<TaskKind, Runner>>;
  workspace: Workspace;
  logs: LogSink;
  /** Every change of a job goes through it. */
  writer: JobWriter;
  /** Delivers a stop asked for before a runner had started. */
  policy: StopPolicy;
  nodeId: string;
  logger: Logger;
  now: () => string;
  /** Called after an attempt's end is stored. */
  onEnded: (run: ActiveRun, result: AttemptEndResult | null) => void;
  /** Whether the engine is closing: a failed write is then given up rather than retried. */
  closing: () => boolean;
  /** Child jobs of a task (DESIGN §7): `ctx.submitChild` of handlers and the `job` task's runner. */
  children?: (jobId: string, taskKey: string) => ChildJobs;
}

interface Adopted {
  previous: RunnerRecord;
  skipLines: number;
}

export class Runs {
  private readonly active = new Map<string, ActiveRun>();
  private readonly deps: RunsDeps;

  constructor(deps: RunsDeps) {
    this.deps = deps;
  }

  get size(): number {
    return this.active.size;
  }

  get(jobId: string, key: string): ActiveRun | undefined {
    return this.active.get(`${jobId}/${key}`);
  }

  all(): ActiveRun[] {
    return [...this.active.values()];
  }

  /** Start the runner of an attempt just claimed. Returns at once; the run is registered synchronously. */
  start(job: Job, task: Task, lastCheckpoint: Json | null): ActiveRun {
    return this.register(job, task, lastCheckpoint, null);
  }

  /**
   * Recovery: follow again the running attempt of a job that outlived the previous engine (a
   * Slurm job), as if this node had started it: its runner row moves to this node, and its
   * end, progress and log are recorded as for any run. Returns at once, registered.
   */
  adopt(job: Job, task: Task, previous: RunnerRecord, skipLines: number): ActiveRun {
    return this.register(job, task, null, { previous, skipLines });
  }

  private register(job: Job, task: Task, lastCheckpoint: Json | null, adopted: Adopted | null): ActiveRun {
    let resolveDone!: (value: AttemptEndResult | null) => void;
    const run: ActiveRun = {
      jobId: job.id,
      key: task.key,
      attempt: task.attempt,
      kind: task.kind,
      running: null,
      signalSent: false,
      signalledAt: null,
      acknowledgedAt: null,
      forced: false,
      stopWhenStarted: null,
      interrupted: false,
      done: new Promise((resolve) => (resolveDone = resolve)),
      chain: Promise.resolve(),
      queuedWrites: [],
      workDir: null,
      recorded: false,
    };
    // Registered before any await: a cancel arriving while the runner starts still finds it.
    this.active.set(`${run.jobId}/${run.key}`, run);
    void this.launch(run, job, task, lastCheckpoint, adopted).then(resolveDone, (error: unknown) => {
      this.deps.logger.error({ err: error, jobId: run.jobId, taskKey: run.key }, "run failed unexpectedly");
      this.active.delete(`${run.jobId}/${run.key}`);
      resolveDone(null);
    });
    return run;
  }

  private async launch(run: ActiveRun, job: Job, task: Task, lastCheckpoint: Json | null, adopted: Adopted | null): Promise<AttemptEndResult | null> {
    const { store, workspace, logs, nodeId } = this.deps;
    const runner = this.deps.runners[task.kind];
    let exit: RunnerExit;
    const stallTimeoutMs = stallTimeoutFor(task);
    // The watchdog's clock starts with the attempt: a runner that never says anything stalls too.
    const stall = stallTimeoutMs === null ? null : new StallClock({
      stallTimeoutMs,
      write: (deadlineMs) => store.setStallDeadline(run.jobId, run.key, run.attempt, deadlineMs),
      onError: (error) => this.deps.logger.warn({ err: error, jobId: run.jobId, taskKey: run.key }, "could not store the stall deadline"),
    });
    stall?.touch();
    try {
      if (runner === undefined) throw new Error(`no runner for ${task.kind} tasks is configured on this node`);
      // Handlers and remote jobs get their directories too, but only processes work in them,
      // so only processes pay for creating them.
      const dirs = task.kind === "process"
        ? workspace.prepare(job.id, task.key, task.attempt)
        : { workDir: workspace.workDir(job.id, task.key, task.attempt), artifactsDir: workspace.artifactsDir(job.id, task.key) };
      run.workDir = task.kind === "process" ? dirs.workDir : null;
      const ctx: RunContext = {
        jobId: job.id,
        taskKey: task.key,
        attempt: task.attempt,
        spec: task.spec,
        params: job.params,
        workDir: dirs.workDir,
        artifactsDir: dirs.artifactsDir,
        lastCheckpoint,
        onProgress: (update) => {
          stall?.touch();
          return this.write(run, (d) => recordProgress(d, run.key, run.attempt, update));
        },
        onCheckpoint: (data) => {
          stall?.touch();
          return this.write(run, (d) => saveCheckpoint(d, run.key, run.attempt, data));
        },
        onWarning: (message) => this.write(run, (d) => recordWarning(d, run.key, run.attempt, message)),
        ...(this.deps.children === undefined ? {} : { children: this.deps.children(job.id, task.key) }),
        onLog: (stream, line) => {
          stall?.touch();
          logs.push({ jobId: run.jobId, taskKey: run.key, attempt: run.attempt, stream, line, time: this.deps.now() });
        },
      };
      let running: RunningTask;
      if (adopted === null) running = await runner.start(ctx);
      else if (runner.reattach !== undefined && adopted.previous.remoteId !== null) running = runner.reattach(ctx, adopted.previous.remoteId, adopted.skipLines);
      else throw new Error(`a ${task.kind} runner cannot follow a job again`);
      run.running = running;
      crashPoint("run.spawned");
      // The runner row is how a later node finds what outlived this one: a process group
      // (pid) or a remote job (remote id). A handler thread dies with its node, so it gets
      // none, which saves two commits per handler task.
      run.recorded = running.identity.pid !== null || running.identity.remoteId !== null;
      // The process already runs: a database away for a moment must not fail it (nor leave it
      // running unrecorded), so the row is retried like every other write of the attempt.
      if (run.recorded) await this.retrying(() => store.insertRunner({
        jobId: run.jobId,
        taskKey: run.key,
        attempt: run.attempt,
        kind: task.kind,
        nodeId,
        pid: running.identity.pid,
        pidStartTime: running.identity.pidStartTime,
        remoteId: running.identity.remoteId,
        workDir: run.workDir,
        startedAt: adopted?.previous.startedAt ?? this.deps.now(),
        endedAt: null,
        exitCode: null,
        outcome: null,
      }), "could not record the runner", { jobId: run.jobId, taskKey: run.key });
      crashPoint("run.recorded");
      this.deps.policy.started(run);
      exit = await running.exited;
    } catch (error) {
      const started = run.running;
      if (started !== null) {
        // Started, but its runner row could not be written (the engine is closing, or the
        // store refused it): nothing would find it again, so it is stopped here.
        this.deps.policy.kill(run);
        await started.exited.catch(() => undefined);
      }
      const what = started === null ? "could not start" : "started, but could not be recorded";
      exit = { outcome: "failed", exitCode: null, signal: null, error: `${what}: ${(error as Error).message}`, output: null, forced: started !== null };
    }
    stall?.stop();
    return this.finish(run, exit);
  }

  private async finish(run: ActiveRun, exit: RunnerExit): Promise<AttemptEndResult | null> {
    const { store, logs, workspace } = this.deps;
    await logs.flush();
    crashPoint("run.exited");
    const end: AttemptEnd = {
      outcome: exit.outcome,
      exitCode: exit.exitCode,
      error: exit.error,
      output: exit.output,
      signalDelivered: run.signalSent && exit.finishedBeforeSignal !== true,
      forced: (run.forced || exit.forced) && exit.finishedBeforeSignal !== true,
      signalledAt: run.signalledAt,
      acknowledgedAt: run.acknowledgedAt,
      interrupted: run.interrupted,
      remoteCancel: run.running?.remoteCancel ?? null,
    };
    const result = await this.write(run, (d) => endAttempt(d, run.key, run.attempt, end));
    crashPoint("run.ended");
    if (run.recorded) {
      const end = { endedAt: this.deps.now(), exitCode: exit.exitCode, outcome: exit.error ?? exit.outcome };
      await this.retrying(() => store.endRunner(run.jobId, run.key, run.attempt, end), "could not record the runner's end").catch(() => undefined);
    }
    crashPoint("run.cleanup");
    if (run.workDir !== null) workspace.removeQuietly(run.workDir);
    this.active.delete(`${run.jobId}/${run.key}`);
    this.deps.onEnded(run, result);
    return result;
  }

  /**
   * A run's writes (progress, checkpoints, warnings, its end) are applied in order, one
   * transaction at a time. The ones queued while a transaction is in flight go together into
   * the next: a runner that reports faster than the database commits (a row lock held
   * elsewhere, a busy server) makes bigger transactions, not an ever longer queue in front
   * of its attempt's end. Every update is still applied, each event still emitted. Each
   * batch is itself grouped with other runs' writes in flight (`mutateGrouped`: group
   * commit). A write the database could not take (it is restarting, the connection dropped)
   * is retried with backoff: the end of an attempt must not be lost (DESIGN invariant 6).
   */
  private write<T>(run: ActiveRun, mutator: Mutator<T>): Promise<T | null> {
    return new Promise<T | null>((resolve) => {
      run.queuedWrites.push({ mutator, resolve: resolve as (value: unknown) => void });
      if (run.queuedWrites.length > 1) return; // the batch is already waiting for its turn
      run.chain = run.chain.then(async () => {
        const batch = run.queuedWrites.splice(0);
        const apply = (writes: typeof batch): Promise<unknown[] | null> =>
          this.retrying(async () => (await this.deps.writer.mutateGrouped(run.jobId, (d) => writes.map((w) => w.mutator(d)))).value, "could not record a task update", {
            jobId: run.jobId,
            taskKey: run.key,
          }).catch(() => null);
        const values = await apply(batch);
        if (values !== null || batch.length === 1) {
          batch.forEach((w, i) => w.resolve(values === null ? null : values[i]));
          return;
        }
        // One of them was refused: each on its own, so the refusal costs only that one.
        for (const w of batch) w.resolve(((await apply([w])) ?? [null])[0]);
      });
    });
  }

  /** Retry a write the database could not take, with backoff, unless it is refused (a BelayError) or the engine closes. */
  private retrying<T>(write: () => Promise<T>, what: string, context: Record<string, unknown> = {}): Promise<T> {
    return retryingWrite(write, { what, context, logger: this.deps.logger, closing: this.deps.closing });
  }
}
