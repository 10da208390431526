/**
 * Stops this node's runners for cancellations executed elsewhere. A cancel requested on
 * node A of a task running on node B reaches B in one of two ways: A's notification (fast),
 * or B's own poll for its tasks the store shows as `cancelling` (bounded by the poll
 * interval, for when a notification is lost). Either way B signals the runner — or kills it
 * when the cancel is forced — applies the task's grace period, and writes its
 * acknowledgement into the record: this node's id and when the runner was signalled. The
 * attempt's end is then stored as usual, and A's executor sees it.
 */
import type { Logger } from "pino";
import { runnersToStop } from "../../core/cancellation.ts";
import { isDrainRecord } from "../../core/drain.ts";
import type { Store } from "../../store/store.ts";
import type { CancelExecutor } from "../cancel-executor.ts";
import type { JobWriter } from "../job-writer.ts";
import type { Runs } from "../runs.ts";
import type { StopPolicy, StopTarget } from "../stop-policy.ts";

export interface CancelAgentDeps {
  store: Store;
  runs: Runs;
  policy: StopPolicy;
  /** Every change of a job goes through it. */
  writer: JobWriter;
  logger: Logger;
  nodeId: string;
  /** This node's executor: when it runs the record, it stops its runners itself. */
  executor: Pick<CancelExecutor, "isExecuting" | "escalateHere">;
}

export class CancelAgent {
  private readonly deps: CancelAgentDeps;

  constructor(deps: CancelAgentDeps) {
    this.deps = deps;
  }

  /** A node asked for a cancel of a job. */
  onCancel(message: { jobId: string; recordId: string; force: boolean }): void {
    if (message.force) this.deps.executor.escalateHere(message.recordId);
    if (!this.deps.runs.all().some((r) => r.jobId === message.jobId)) return;
    void this.stopRunners(message.jobId, message.recordId, message.force).catch((error: unknown) =>
      this.deps.logger.error({ err: error, jobId: message.jobId, cancellationId: message.recordId }, "could not stop runners for a cancel"),
    );
  }

  /** The fallback: this node's tasks that the store shows as being cancelled. */
  async poll(): Promise<void> {
    const { runs, store, nodeId } = this.deps;
    if (runs.size === 0) return;
    const jobs = new Set<string>();
    for (const task of await store.activeTasks(nodeId)) {
      const run = runs.get(task.jobId, task.taskKey);
      if (task.status === "cancelling" && run !== undefined && run.attempt === task.attempt && !run.signalSent) jobs.add(task.jobId);
    }
    for (const jobId of jobs) {
      const open = await store.listCancellations({ jobId, status: "in_progress" }, { limit: 100, offset: 0 });
      for (const record of open.items) await this.stopRunners(jobId, record.id, record.force);
    }
  }

  private async stopRunners(jobId: string, recordId: string, force: boolean): Promise<void> {
    const { runs, logger, nodeId } = this.deps;
    if (this.deps.executor.isExecuting(recordId)) return;
    const record = await this.deps.store.getCancellation(recordId);
    // A drain's record is its own node's to carry out, and hands the task back rather than cancelling it.
    if (record === null || record.status !== "in_progress" || isDrainRecord(record)) return;
    const kill = force || record.force;
    const targets: StopTarget[] = [];
    for (const report of runnersToStop(record)) {
      const run = runs.get(jobId, report.key);
      if (run !== undefined && run.attempt === report.attempt) targets.push({ run, graceMs: report.graceMs ?? record.graceMs });
    }
    const stopped = this.deps.policy.stop(targets, { force: kill });
    if (stopped.length === 0) return;
    logger.info({ jobId, cancellationId: recordId, tasks: stopped.map((r) => r.key), force: kill }, "stopping runners for a cancel from another node");
    await this.deps.writer.mutate(jobId, (d) => {
      const latest = d.cancellation(recordId);
      if (latest === undefined || latest.status !== "in_progress") return;
      for (const run of stopped) {
        const report = latest.tasks.find((r) => r.key === run.key && r.attempt === run.attempt);
        if (report === undefined || report.stoppedAt !== null) continue;
        report.nodeId = nodeId;
        report.signalledAt ??= run.signalledAt;
        report.acknowledgedAt ??= run.acknowledgedAt;
      }
      d.putCancellation(latest);
    });
  }
}
