/**
 * Executes the steps of a cancellation that need I/O, after the request's transaction has
 * blocked dispatch and cancelled the pending tasks (DESIGN §3):
 * `signal_runners` → `await_runners` (grace) → `force_kill` → `cleanup` (retried with
 * backoff) → `compensate` (when the job has compensation tasks) → `finalize`.
 *
 * Every step's start, end and detail are written to the record as it happens, so a reader
 * (or a restarted engine) sees exactly how far the cancellation got.
 */
import type { Logger } from "pino";
import { isBelayError } from "../core/errors.ts";
import { emitStep, endStep, finalizeCancellation, findStep, runnersToStop, startStep } from "../core/cancellation.ts";
import { topologicalOrder } from "../core/graph.ts";
import { endAttempt, startCompensation } from "../core/lifecycle.ts";
import type { CancellationRecord, Job, Json, StepName } from "../core/model.ts";
import { isTerminalTask } from "../core/states.ts";
import type { JobDraft } from "../core/draft.ts";
import type { JobWriter } from "./job-writer.ts";
import { retryDelayMs } from "./retry.ts";
import type { ActiveRun } from "./active-run.ts";
import type { Runs } from "./runs.ts";
import type { StopPolicy } from "./stop-policy.ts";
import type { WaitForAttempts } from "./cluster/task-watch.ts";
import { logStep } from "./step-log.ts";
import type { Workspace } from "./workspace.ts";
import { crashPoint } from "./crash-points.ts";
import type { TreeOutcome } from "./types.ts";

export interface CancelExecutorDeps {
  /** Every change of a job goes through it. */
  writer: JobWriter;
  runs: Runs;
  /** Signal, grace and kill of this node's runs. */
  policy: StopPolicy;
  workspace: Workspace;
  logger: Logger;
  now: () => string;
  nodeId: string;
  /** Delays between cleanup attempts. Default [50, 200, 800]. */
  cleanupRetryDelaysMs: readonly number[];
  /** How long to wait for a runner to exit after SIGKILL / terminate before declaring it lost. */
  killTimeoutMs: number;
  /** Resolves once every claim in flight has registered its run (a cancel must see every local runner). */
  claimsSettled: () => Promise<void>;
  /** Called when a record reaches a final status. */
  onFinished: (record: CancellationRecord, job: Job) => void;
  /** Ask the nodes running the job's tasks to stop them (a no-op when the store has one engine). */
  sendCancel: (jobId: string, recordId: string, force: boolean) => void;
  /** Resolves true once the attempts (running on other nodes) have ended, false after `timeoutMs`. */
  waitForAttempts: WaitForAttempts;
  /** Which of these nodes are gone (stopped, or dead): their runners will never report. */
  goneNodes: (nodeIds: string[]) => Promise<Set<string>>;
  /** The stored record, to resume from after a failure (e.g. the database was away). */
  reload: (recordId: string) => Promise<CancellationRecord | null>;
  /** Whether the engine is closing (an execution stops retrying). */
  closing: () => boolean;
  /** The `cancel_children` step's walk: cancel the job's descendants and wait for them to end (DESIGN §7). */
  cancelTree: (record: CancellationRecord, escalated: Promise<void>) => Promise<TreeOutcome>;
}

/**
 * Another node took the record over (this node was declared dead meanwhile, e.g. frozen past
 * its lease): this node's execution must stop writing, whatever step it had reached.
 */
class TakenOver extends Error {
  readonly byNodeId: string;
  constructor(byNodeId: string) {
    super(`the cancellation was taken over by node ${byNodeId}`);
    this.byNodeId = byNodeId;
  }
}

interface Execution {
  escalate: () => void;
  done: Promise<void>;
}

export class CancelExecutor {
  private readonly executions = new Map<string, Execution>();
  private readonly deps: CancelExecutorDeps;

  constructor(deps: CancelExecutorDeps) {
    this.deps = deps;
  }

  /** Start (or join) the execution of an in-progress job or task record. */
  execute(record: CancellationRecord): Promise<void> {
    const existing = this.executions.get(record.id);
    if (existing !== undefined) return existing.done;
    let escalate!: () => void;
    const escalated = new Promise<void>((resolve) => (escalate = resolve));
    const done = this.runUntilDone(record, escalated)
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error, cancellationId: record.id, jobId: record.jobId }, "cancellation execution failed");
      })
      .finally(() => this.executions.delete(record.id));
    this.executions.set(record.id, { escalate, done });
    return done;
  }

  /**
   * A repeat with `force` of a cancel in progress — the one place that decides who hears it.
   * An execution on this node stops waiting for the grace periods and force-kills (its
   * `force_kill` step tells the nodes still running the job's tasks). Otherwise the executor
   * is on another node (or gone, and recovery will take the record over, forced): every node
   * is told, so that executor escalates and each node's cancel agent kills its runners.
   */
  escalate(jobId: string, recordId: string): void {
    const here = this.executions.get(recordId);
    if (here !== undefined) here.escalate();
    else this.deps.sendCancel(jobId, recordId, true);
  }

  /** A forced repeat heard from another node: an execution on this node stops waiting. */
  escalateHere(recordId: string): void {
    this.executions.get(recordId)?.escalate();
  }

  isExecuting(recordId: string): boolean {
    return this.executions.has(recordId);
  }

  whenDone(recordId: string): Promise<void> {
    return this.executions.get(recordId)?.done ?? Promise.resolve();
  }

  /**
   * Every step is written before the next begins and skipped once done, so after a failure
   * (the database away for a while, say) the execution resumes from the stored record.
   */
  private async runUntilDone(record: CancellationRecord, escalated: Promise<void>): Promise<void> {
    let current = record;
    for (let failures = 0; ; failures += 1) {
      try {
        await this.run(current, escalated);
        return;
      } catch (error) {
        if (error instanceof TakenOver) {
          this.deps.logger.warn({ cancellationId: record.id, jobId: record.jobId, executorNodeId: error.byNodeId }, "another node took this cancellation over: this node stops executing it");
          return;
        }
        if (this.deps.closing() || isBelayError(error)) throw error;
        const waitMs = retryDelayMs(failures);
        this.deps.logger.warn({ err: error, cancellationId: record.id, jobId: record.jobId, retryInMs: waitMs }, "cancellation step failed: retrying");
        await delay(waitMs);
        const latest = await this.deps.reload(record.id).catch(() => null);
        if (latest !== null) {
          if (latest.status !== "in_progress") return;
          current = latest;
        }
      }
    }
  }

  private async run(initial: CancellationRecord, escalated: Promise<void>): Promise<void> {
    const { runs, policy, logger } = this.deps;
    const jobId = initial.jobId;
    if (jobId === null) return;
    await this.deps.claimsSettled();

    const waiting = runnersToStop(initial);
    const local = new Map<string, ActiveRun>();
    for (const report of waiting) {
      const run = runs.get(jobId, report.key);
      if (run !== undefined && run.attempt === report.attempt) local.set(report.key, run);
    }
    // Tasks running on other nodes: their nodes stop them (DESIGN §6); a gone node's are lost.
    const elsewhere = waiting.filter((r) => !local.has(r.key) && r.nodeId !== null && r.nodeId !== this.deps.nodeId);
    const gone = await this.deps.goneNodes([...new Set(elsewhere.map((r) => r.nodeId as string))]);
    const remote = elsewhere.filter((r) => !gone.has(r.nodeId as string));
    let force = initial.force;
    void escalated.then(() => (force = true));
    const remoteGraceMs = force ? 0 : Math.max(0, ...remote.map((r) => r.graceMs ?? initial.graceMs));
    let remoteFinished = remote.length === 0;
    const remoteEnded = this.deps.waitForAttempts(jobId, remote, remoteGraceMs + this.deps.killTimeoutMs).then((ended) => {
      remoteFinished = ended;
    });

    // cancel_children: the descendants are cancelled alongside this job's own runners; the
    // step ends (below, before finalize) once every one of them has ended.
    const treeStep = initial.steps.find((s) => s.name === "cancel_children");
    let tree: Promise<TreeOutcome> | null = null;
    if (treeStep !== undefined && (treeStep.status === "pending" || treeStep.status === "running")) {
      if (treeStep.status === "pending") {
        await this.deps.writer.mutate(jobId, (d) => {
          const record = d.cancellation(initial.id);
          if (record === undefined || record.status !== "in_progress") return;
          emitStep(d, record, startStep(record, "cancel_children", d.now));
          d.putCancellation(record);
        });
      }
      tree = this.deps.cancelTree(initial, escalated);
      // Awaited before finalize; a failure meanwhile must not go unhandled.
      tree.catch(() => undefined);
    }

    // signal_runners
    if (findStep(initial, "signal_runners").status === "pending") {
      const started = this.deps.now();
      for (const run of local.values()) {
        if (force) policy.kill(run);
        else policy.signal(run);
      }
      if (remote.length > 0) this.deps.sendCancel(jobId, initial.id, force);
      const detail: Record<string, Json> = { signalled: local.size, force };
      if (remote.length > 0) detail["notified"] = { tasks: remote.map((r) => r.key), nodes: [...new Set(remote.map((r) => r.nodeId as string))] };
      crashPoint("cancel.signal_runners");
      await this.step(jobId, initial.id, "signal_runners", started, "completed", detail, (record) => {
        for (const report of record.tasks) {
          const run = local.get(report.key);
          if (run !== undefined && report.stoppedAt === null) {
            report.signalledAt = run.signalledAt;
            report.nodeId = this.deps.nodeId;
          }
        }
      });
    }

    // await_runners: each runner gets its own grace period; a forced repeat ends the wait.
    const finished = new Set<string>();
    const allDone = Promise.all(
      [...local.entries()].map(async ([key, run]) => {
        await run.done;
        finished.add(key);
      }),
    );
    if (findStep(initial, "await_runners").status === "pending") {
      const started = this.deps.now();
      if (force || local.size + remote.length === 0) {
        await this.step(jobId, initial.id, "await_runners", started, "skipped", { reason: force ? "force" : "no runner to wait for", runners: local.size + remote.length });
      } else {
        await Promise.race([
          Promise.all([allDone, remoteEnded]),
          escalated,
          // Each local run's own grace; one whose grace runs out is killed then, once.
          Promise.all([
            policy.awaitGrace([...local.entries()].map(([key, run]) => ({ run, graceMs: initial.tasks.find((r) => r.key === key)?.graceMs ?? initial.graceMs }))),
            ...(remote.length > 0 ? [Promise.race([remoteEnded, delay(remoteGraceMs)])] : []),
          ]),
        ]);
        crashPoint("cancel.await_runners");
        await this.step(jobId, initial.id, "await_runners", started, "completed", {
          exited: finished.size + (remoteFinished ? remote.length : 0),
          remaining: local.size - finished.size + (remoteFinished ? 0 : remote.length),
          escalated: force && !initial.force,
        });
      }
    }

    // force_kill
    if (findStep(initial, "force_kill").status === "pending") {
      const started = this.deps.now();
      const remaining = [...local.entries()].filter(([key]) => !finished.has(key));
      const remoteRemaining = remoteFinished ? [] : remote;
      if (remaining.length + remoteRemaining.length === 0) {
        await this.step(jobId, initial.id, "force_kill", started, "skipped", { reason: "no runner left" });
      } else {
        // Still alive after the wait: killed now, unless its grace's end killed it already.
        for (const [, run] of remaining) policy.kill(run);
        if (remoteRemaining.length > 0) this.deps.sendCancel(jobId, initial.id, true);
        crashPoint("cancel.force_kill");
        const outcome = await Promise.race([
          Promise.all([allDone, remoteEnded]).then(() => (remoteFinished ? ("exited" as const) : ("timeout" as const))),
          delay(this.deps.killTimeoutMs).then(() => "timeout" as const),
        ]);
        const keys = [...remaining.map(([key]) => key), ...remoteRemaining.map((r) => r.key)];
        await this.step(jobId, initial.id, "force_kill", started, outcome === "exited" ? "completed" : "failed", {
          killed: keys.length,
          keys,
          ...(outcome === "timeout" ? { error: `runners still alive ${this.deps.killTimeoutMs} ms after the kill` } : {}),
        });
      }
    } else if (finished.size < local.size) {
      // Killed before a restart, taken over since (a Slurm job recovery follows again, killed
      // on adoption): it must have ended before the record can be finalized.
      await Promise.race([allDone, delay(this.deps.killTimeoutMs)]);
    }
    // Only a task with no runner here or on a live node needs resolving; most cancels skip this transaction.
    const lost = waiting.filter((r) => !local.has(r.key) && !remote.includes(r)).map((r) => r.key);
    if (lost.length > 0) await this.resolveLostRunners(jobId, initial.id, lost);

    // cleanup
    let cleanupFailed = false;
    if (findStep(initial, "cleanup").status === "pending") {
      const started = this.deps.now();
      const dirs = initial.scope === "job"
        ? [this.deps.workspace.jobWorkDir(jobId)]
        : initial.tasks.filter((r) => r.attempt > 0).map((r) => this.deps.workspace.workDir(jobId, r.key, r.attempt));
      const result = await this.deps.workspace.removeWithRetry(dirs, this.deps.cleanupRetryDelaysMs);
      crashPoint("cancel.cleanup");
      cleanupFailed = !result.ok;
      const detail: Record<string, Json> = {
        removed: result.removed.length,
        attempts: result.attempts,
        artifactsKept: true,
        ...(result.ok ? {} : { errors: result.errors }),
      };
      await this.step(jobId, initial.id, "cleanup", started, result.ok ? "completed" : "failed", detail, (record, d) => {
        if (!result.ok) record.errors.push(...result.errors.map((e) => `cleanup: ${e}`));
        // The pool slots the stopped tasks gave back (each end of a task releases its slots, in its own transaction).
        detail["slotsReleased"] = record.tasks
          .filter((r) => r.outcome === "mid_run" && r.stoppedAt !== null)
          .flatMap((r) => d.task(r.key).spec.uses.map((pool) => ({ pool, taskKey: r.key })));
      });
      if (!result.ok) logger.warn({ jobId, cancellationId: initial.id, errors: result.errors }, "cleanup failed");
    } else {
      cleanupFailed = findStep(initial, "cleanup").status === "failed";
    }

    // `running`: the node executing it stopped mid-way (recovery resolved its compensation
    // task as lost); compensation runs again for the tasks that have not succeeded.
    const compensate = initial.steps.some((s) => s.name === "compensate") ? findStep(initial, "compensate").status : null;
    if (compensate === "pending" || compensate === "running") {
      await this.compensate(jobId, initial.id);
    }

    if (tree !== null) {
      const outcome = await tree;
      await this.deps.writer.mutate(jobId, (d) => {
        const record = d.cancellation(initial.id);
        if (record === undefined || record.status !== "in_progress") return;
        record.descendants = outcome.descendants;
        const step = endStep(record, "cancel_children", d.now, "completed", { ...outcome.counts });
        emitStep(d, record, step);
        d.emit("belay.cancellation.tree_completed", null, { cancellationId: record.id, ...outcome.counts });
        d.putCancellation(record);
        logStep(this.deps.logger, record, step);
      });
    }

    crashPoint("cancel.finalize");
    const { value: record, job } = await this.deps.writer.mutate(jobId, (d) => {
      this.fence(d.cancellation(initial.id));
      return finalizeCancellation(d, initial.id, { cleanupFailed });
    });
    logStep(this.deps.logger, record, findStep(record, "finalize"));
    this.deps.onFinished(record, job);
  }

  /**
   * A task still running or cancelling with no runner on this node once the runners were
   * stopped: its runner is gone (the engine restarted, or it never started). It is
   * resolved as cancelled, so the job can finish (invariant 3 holds: nothing runs it).
   */
  private async resolveLostRunners(jobId: string, recordId: string, keys: string[]): Promise<void> {
    await this.deps.writer.mutate(jobId, (d) => {
      this.fence(d.cancellation(recordId));
      for (const task of d.tasks) {
        if (!keys.includes(task.key) || isTerminalTask(task.status)) continue;
        const run = this.deps.runs.get(jobId, task.key);
        if (run !== undefined && run.attempt === task.attempt) continue;
        endAttempt(d, task.key, task.attempt, {
          outcome: "failed",
          exitCode: null,
          error: "runner lost",
          output: null,
          signalDelivered: true,
          forced: true,
        });
      }
    });
  }

  /** Run the job's compensation tasks in dependency order, each to its end. */
  private async compensate(jobId: string, recordId: string): Promise<void> {
    const started = this.deps.now();
    const { value: keys } = await this.deps.writer.mutate(jobId, (d) => {
      const record = d.cancellation(recordId);
      if (record === undefined) return [];
      this.fence(record);
      const comp = d.tasks.filter((t) => t.runOn === "cancel");
      // Too late: every task finished before the cancel took effect, the job keeps its
      // outcome, and there is nothing to undo — its compensation must not run.
      if (record.tasks.length > 0 && record.tasks.every((r) => r.outcome === "finished_first")) {
        for (const t of comp) if (t.status === "pending") d.setTaskStatus(t.key, "skipped", { reason: "the cancel came too late; nothing to undo" });
        emitStep(d, record, endStep(record, "compensate", d.now, "skipped", { reason: "every task had finished before the cancel" }));
        d.putCancellation(record);
        return null;
      }
      emitStep(d, record, startStep(record, "compensate", d.now));
      d.putCancellation(record);
      return topologicalOrder(comp.map((t) => ({ ...t.spec, dependsOn: t.spec.dependsOn.filter((dep) => comp.some((c) => c.key === dep.key)) })));
    });
    if (keys === null) return;
    for (const key of keys) {
      const { value: claim, job } = await this.deps.writer.mutate(jobId, (d) => {
        this.fence(d.cancellation(recordId));
        return startCompensation(d, key, this.deps.nodeId);
      });
      if (claim === null) continue;
      const run = this.deps.runs.start(job, claim.task, claim.lastCheckpoint);
      crashPoint("cancel.compensate");
      await run.done;
    }
    await this.deps.writer.mutate(jobId, (d) => {
      const record = d.cancellation(recordId);
      if (record === undefined) return;
      this.fence(record);
      record.compensation = d.tasks
        .filter((t) => t.runOn === "cancel")
        .map((t) => ({ key: t.key, status: t.status, error: t.error, output: t.output }));
      const failed = record.compensation.filter((c) => c.status !== "succeeded");
      if (failed.length > 0) record.errors.push(...failed.map((c) => `compensation task "${c.key}" ${c.status}${c.error === null ? "" : `: ${c.error}`}`));
      const step = endStep(record, "compensate", d.now, failed.length === 0 ? "completed" : "failed", {
        ran: record.compensation.filter((c) => c.status === "succeeded" || c.status === "failed").length,
        failed: failed.length,
      });
      step.startedAt = started;
      emitStep(d, record, step);
      d.putCancellation(record);
      logStep(this.deps.logger, record, step);
    });
  }

  /**
   * Fencing: every write of an execution first checks, in its transaction, that the record is
   * still this node's to execute. Recovery on another node moves `executorNodeId` to itself
   * when it declares this node dead; from then on this node's view of the steps is stale.
   */
  private fence(record: CancellationRecord | undefined): void {
    if (record === undefined || record.executorNodeId === null || record.executorNodeId === this.deps.nodeId) return;
    throw new TakenOver(record.executorNodeId);
  }

  /** Write one finished step (and anything else `edit` changes on the record) in one transaction. */
  private async step(
    jobId: string,
    recordId: string,
    name: StepName,
    startedAt: string,
    status: "completed" | "skipped" | "failed",
    detail: Record<string, Json>,
    edit?: (record: CancellationRecord, d: JobDraft) => void,
  ): Promise<void> {
    await this.deps.writer.mutate(jobId, (d) => {
      const record = d.cancellation(recordId);
      if (record === undefined || record.status !== "in_progress") return;
      this.fence(record);
      edit?.(record, d);
      const step = endStep(record, name, d.now, status, detail);
      step.startedAt = startedAt;
      if (status === "failed") record.errors.push(`${name} failed`);
      emitStep(d, record, step);
      d.putCancellation(record);
      logStep(this.deps.logger, record, step);
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
