/**
 * The pure rules of draining a node (DESIGN §7 "Drain"). A task still running when its node's
 * drain timeout runs out is stopped and handed back to the queue: it gets a cancellation
 * record of scope `task` (`requestedBy: "system:drain"`) that says when it was signalled and
 * how it stopped, but the task itself is not cancelled — the attempt ends `interrupted` and
 * goes back to `pending` without using a retry (`endAttempt`), for another node to claim with
 * its last checkpoint.
 *
 * Such a record has no executor: the node that drains stops the runner through its
 * `StopPolicy` (the shutdown path), and the end of the attempt — stored by the runner's end,
 * or by another node's recovery if the draining node exits first — finishes the record in the
 * same transaction (`finishDrainStops`).
 */
import { emitStep, endStep, finalizeCancellation, newRecord, runnersToStop, startStep } from "./cancellation.ts";
import type { JobDraft } from "./draft.ts";
import { graceFor } from "./grace.ts";
import type { CancellationRecord } from "./model.ts";

/** Who a drain's records are requested by. */
export const drainRequester = "system:drain";

export function isDrainRecord(record: Pick<CancellationRecord, "requestedBy" | "scope">): boolean {
  return record.scope === "task" && record.requestedBy === drainRequester;
}

/**
 * The record of handing one running attempt back. Null when there is nothing to hand back:
 * the attempt has ended, is not this node's, or is already being cancelled (a cancel keeps
 * its own semantics and record).
 */
export function requestDrainStop(d: JobDraft, newId: string, key: string, attempt: number, nodeId: string): CancellationRecord | null {
  const task = d.tasks.find((t) => t.key === key);
  if (task === undefined || task.attempt !== attempt || task.status !== "running" || task.nodeId !== nodeId || d.job.status !== "running") return null;
  const graceMs = graceFor(d.job, task);
  const record = newRecord({
    id: newId,
    jobId: d.job.id,
    taskKey: key,
    scope: "task",
    parentId: null,
    reason: `drain: node ${nodeId} is shutting down; the task is handed back to the queue`,
    requestedBy: drainRequester,
    force: false,
    cascade: false,
    graceMs,
    now: d.now,
    steps: ["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"],
    jobAttempt: d.job.attempt,
    // No executor: the attempt's end finishes the record (see the module comment).
    executorNodeId: null,
  });
  const instant = (name: "block_dispatch" | "cancel_pending_tasks", status: "completed" | "skipped", detail: Record<string, string>): void =>
    emitStep(d, record, endStep(record, name, d.now, status, detail));
  instant("block_dispatch", "completed", { nodeId, claiming: "stopped" });
  instant("cancel_pending_tasks", "skipped", { reason: "a drain cancels nothing: the task goes back to pending" });
  startStep(record, "signal_runners", d.now);
  record.tasks.push({
    key,
    attempt,
    nodeId,
    signalledAt: null,
    acknowledgedAt: null,
    stoppedAt: null,
    mode: null,
    outcome: "mid_run",
    exitCode: null,
    graceMs,
  });
  // Not the job's cancellation summary: the job was not cancelled, it keeps running elsewhere.
  d.putCancellation(record);
  d.touchJob();
  return record;
}

/**
 * Finish every drain record whose runner has stopped (its report was filled in by
 * `endAttempt`): the I/O steps get the times the report holds, then `finalize`.
 */
export function finishDrainStops(d: JobDraft): void {
  for (const record of d.openCancellations()) {
    if (!isDrainRecord(record) || runnersToStop(record).length > 0) continue;
    const report = record.tasks[0];
    const stoppedAt = report?.stoppedAt ?? d.now;
    const signalledAt = report?.signalledAt ?? null;
    const ranToEnd = report?.outcome === "finished_first";
    const signal = endStep(record, "signal_runners", signalledAt ?? stoppedAt, ranToEnd && signalledAt === null ? "skipped" : "completed", { runners: ranToEnd ? 0 : 1 });
    emitStep(d, record, signal);
    const wait = endStep(record, "await_runners", stoppedAt, "completed", { graceMs: report?.graceMs ?? record.graceMs, outcome: report?.outcome ?? null });
    wait.startedAt = signalledAt ?? wait.startedAt;
    emitStep(d, record, wait);
    const forced = report?.mode === "forced";
    emitStep(d, record, endStep(record, "force_kill", stoppedAt, forced ? "completed" : "skipped", { runners: forced ? 1 : 0 }));
    emitStep(d, record, endStep(record, "cleanup", stoppedAt, "skipped", { reason: "the node removes the attempt's work dir; the checkpoint and artifacts are kept" }));
    finalizeCancellation(d, record.id, { cleanupFailed: false });
  }
}

/** Whether an open drain record awaits this attempt (recovery: a lost attempt of a drained node is handed back, not failed). */
export function awaitsDrainStop(d: JobDraft, key: string, attempt: number): boolean {
  return d.openCancellations().some((r) => isDrainRecord(r) && runnersToStop(r).some((t) => t.key === key && t.attempt === attempt));
}

/** What one drain did (the answer of `belay.drain()` and the data of `belay.node.drained`). */
export interface DrainReport {
  nodeId: string;
  timeoutMs: number;
  startedAt: string;
  finishedAt: string;
  /** Tasks running on the node when the drain began. */
  running: number;
  /** Of those, the ones that ended on their own within the drain timeout. */
  finished: number;
  /** Stopped after the timeout and handed back to the queue (pending, no retry used). */
  handedBack: number;
  /** Stopped after the timeout but not handed back: they ended on their own first, or a cancel under way took them. */
  stoppedOtherwise: number;
  /** The drain's records, one per task it stopped. */
  cancellationIds: string[];
}

/**
 * A node's event, CloudEvents 1.0 like a job's but not stored in a job's log: it reaches the
 * node's own subscribers (`belay.on("belay.node.drained", …)`), its log and its metrics.
 */
export interface NodeDrainedEvent {
  specversion: "1.0";
  id: string;
  source: "belay";
  type: "belay.node.drained";
  /** The node id. */
  subject: string;
  time: string;
  datacontenttype: "application/json";
  data: DrainReport;
}
