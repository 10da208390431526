/**
 * Crash recovery, run when an engine opens its store (DESIGN invariant 7):
 * 1. kill the runner processes the previous engine left behind, recognised by pid *and*
 *    process start time so a reused pid is never killed;
 * 2. resolve the tasks whose runner is gone: cancelled if a cancel was requested, else
 *    retried (retries left) or failed;
 * 3. finish the cancellations that were in progress.
 */
import type { Logger } from "pino";
import { endAttempt } from "../core/lifecycle.ts";
import type { CancellationRecord } from "../core/model.ts";
import { killOrphanGroup } from "../runners/proc.ts";
import type { Store } from "../store/store.ts";
import type { Mutate } from "./mutate.ts";

export interface RecoveryReport {
  orphanedRunners: number;
  processesKilled: number;
  tasksResolved: number;
  /** In-progress records this recovery hands to the executor. */
  cancellations: CancellationRecord[];
}

export async function recover(deps: { store: Store; mutate: Mutate; logger: Logger; now: () => string }): Promise<RecoveryReport> {
  const { store, mutate, logger } = deps;
  const report: RecoveryReport = { orphanedRunners: 0, processesKilled: 0, tasksResolved: 0, cancellations: [] };

  for (const runner of await store.liveRunners()) {
    report.orphanedRunners += 1;
    if (runner.pid !== null && runner.pidStartTime !== null) {
      const { killed } = killOrphanGroup(runner.pid, runner.pidStartTime);
      report.processesKilled += killed;
      if (killed > 0) logger.warn({ jobId: runner.jobId, taskKey: runner.taskKey, pid: runner.pid, killed }, "killed orphaned runner processes");
    }
    await store.endRunner(runner.jobId, runner.taskKey, runner.attempt, { endedAt: deps.now(), exitCode: null, outcome: "orphaned: killed on recovery" });
  }

  for (const jobId of await store.jobsWithActiveTasks()) {
    const { value } = await mutate(jobId, (d) => {
      let resolved = 0;
      for (const task of d.tasks) {
        if (task.status !== "running" && task.status !== "cancelling") continue;
        const cancelRequested = task.status === "cancelling" || d.job.status === "cancelling";
        endAttempt(d, task.key, task.attempt, {
          outcome: "failed",
          exitCode: null,
          error: "runner lost: the engine stopped while it ran",
          output: null,
          signalDelivered: cancelRequested,
          forced: cancelRequested,
        });
        resolved += 1;
      }
      return resolved;
    });
    report.tasksResolved += value;
  }

  report.cancellations = await store.openCancellations();
  if (report.orphanedRunners + report.tasksResolved + report.cancellations.length > 0) {
    logger.info(
      { orphanedRunners: report.orphanedRunners, processesKilled: report.processesKilled, tasksResolved: report.tasksResolved, cancellations: report.cancellations.length },
      "recovered from an earlier run",
    );
  }
  return report;
}
