/**
 * The cancel requests of the library API (DESIGN §3): a job, a task, or every job matching a
 * filter. Each request is one mutation of core's rules (`requestJobCancel`,
 * `requestTaskCancel`) through the job writer; what is left to do — the steps that need I/O —
 * is handed to the executor, and a forced repeat to the executor's `escalate`.
 */
import type { Logger } from "pino";
import { newRecord, requestJobCancel, requestTaskCancel } from "../core/cancellation.ts";
import type { CancelOutcome } from "../core/cancellation.ts";
import type { JobDraft, JobSnapshot } from "../core/draft.ts";
import { previewCancel } from "../core/preview.ts";
import type { CancelPreview } from "../core/preview.ts";
import type { ParsedCancel } from "../core/requests.ts";
import { BelayError } from "../core/errors.ts";
import { isTerminalJob } from "../core/states.ts";
import type { CancellationRecord, Job } from "../core/model.ts";
import { parseBulkCancelOptions, parseCancelOptions } from "../core/requests.ts";
import type { BulkCancelOptions, CancelJobOptions, CancelTaskOptions, ParsedBulkFilter } from "../core/requests.ts";
import type { Store } from "../store/store.ts";
import type { CancelExecutor } from "./cancel-executor.ts";
import { crashPoint } from "./crash-points.ts";
import { newId } from "./ids.ts";
import type { JobWriter } from "./job-writer.ts";
import { readJobTree } from "./job-tree.ts";
import type { JobTreeNode } from "./job-tree.ts";
import { logStep } from "./step-log.ts";
import type { BulkCancelResult, CancelPreviewResult, CancelResult, JobCanceller, Quiesced } from "./types.ts";

export interface CancelRequestsDeps {
  writer: JobWriter;
  /** Reads, and the bulk record (which belongs to no job). */
  store: Store;
  executor: Pick<CancelExecutor, "execute" | "escalate" | "whenDone">;
  logger: Logger;
  nodeId: string;
  now: () => string;
  /** Ask the scheduler for a claim round (a task cancel may make dependents ready). */
  wake: () => void;
  /** Pause the schedules and queue a bulk filter names (`quiesce: true`, DESIGN §7). */
  quiesce: (filter: ParsedBulkFilter, by: string, reason: string) => Promise<Quiesced>;
}

export class CancelRequests implements JobCanceller {
  private readonly deps: CancelRequestsDeps;
  private readonly bulkExecutions = new Set<Promise<void>>();
  /** Bulk records this process is finishing (its own, and those recovery handed it). */
  private readonly finishingBulk = new Set<string>();

  constructor(deps: CancelRequestsDeps) {
    this.deps = deps;
  }

  /** Resolves once every bulk cancel under way has finished its record. */
  async settled(): Promise<void> {
    await Promise.all(this.bulkExecutions);
  }

  /** Cancel a job (DESIGN §3). */
  async cancelJob(jobId: string, options: CancelJobOptions = {}): Promise<CancelResult> {
    const opts = parseCancelOptions(options, "job");
    const { value: outcome, job } = await this.deps.writer.mutate(jobId, (d) => this.jobPlan(opts)(d, newId()));
    return this.afterCancel(job, outcome, opts.wait ? opts.waitMs : null);
  }

  /** Cancel one task, with its dependents unless `cascade` is false (DESIGN §3). */
  async cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions = {}): Promise<CancelResult> {
    const opts = parseCancelOptions(options, "task");
    const { value: outcome, job } = await this.deps.writer.mutate(jobId, (d) => this.taskPlan(taskKey, opts)(d, newId()));
    // Dependents of a task cancelled without cascade may be ready now.
    this.deps.wake();
    return this.afterCancel(job, outcome, opts.wait ? opts.waitMs : null);
  }

  /** What `cancelJob` with these options would do, from the same planner; nothing is written. */
  async previewJob(jobId: string, options: CancelJobOptions = {}): Promise<CancelPreviewResult> {
    const opts = parseCancelOptions(options, "job");
    const snapshot = await this.snapshot(jobId);
    const preview = previewCancel(snapshot, this.deps.now(), "job", null, this.jobPlan(opts));
    if (preview.outcome !== "repeat") preview.descendants = await this.descendantsReached(snapshot.job);
    return { job: snapshot.job, cancellation: null, dryRun: true, preview };
  }

  /** What a job cancel's tree walk (cancel-tree.ts) would reach: unfinished descendants, and detached children it leaves. */
  private async descendantsReached(root: Job): Promise<CancelPreview["descendants"]> {
    const reached: CancelPreview["descendants"] = [];
    const { root: tree } = await readJobTree(this.deps.store, root, 1000);
    const walk = (node: JobTreeNode): void => {
      for (const child of node.children) {
        if (child.job.onParentCancel === "detach") {
          reached.push({ jobId: child.job.id, onParentCancel: "detach", status: child.job.status });
          continue;
        }
        if (!isTerminalJob(child.job.status)) reached.push({ jobId: child.job.id, onParentCancel: "cancel", status: child.job.status });
        walk(child);
      }
    };
    walk(tree);
    return reached;
  }

  /** What `cancelTask` with these options would do, from the same planner; nothing is written. */
  async previewTask(jobId: string, taskKey: string, options: CancelTaskOptions = {}): Promise<CancelPreviewResult> {
    const opts = parseCancelOptions(options, "task");
    const snapshot = await this.snapshot(jobId);
    return { job: snapshot.job, cancellation: null, dryRun: true, preview: previewCancel(snapshot, this.deps.now(), "task", taskKey, this.taskPlan(taskKey, opts)) };
  }

  /** The one planner of a job cancel: a real cancel applies it in its transaction, a preview on a copy. */
  private jobPlan(opts: ParsedCancel): (d: JobDraft, id: string) => CancelOutcome {
    return (d, id) =>
      requestJobCancel(d, id, {
        reason: opts.reason,
        requestedBy: opts.requestedBy,
        force: opts.force,
        graceMs: opts.graceMs,
        onlyIfPending: opts.onlyIfPending,
        parentId: null,
        nodeId: this.deps.nodeId,
      });
  }

  /**
   * Cancel a descendant as part of the tree cancel `root` (DESIGN §7): the same request as a
   * job cancel, with the root's reason, requester and force, its record's parent the root's
   * record, and no tree walk of its own (the root's walks the whole tree). A repeat with
   * `force` escalates the descendant's cancel in progress.
   */
  async cancelInTree(jobId: string, root: CancellationRecord, force: boolean): Promise<CancelResult> {
    const { value: outcome, job } = await this.deps.writer.mutate(jobId, (d) =>
      requestJobCancel(d, newId(), {
        reason: root.reason,
        requestedBy: root.requestedBy,
        force,
        graceMs: null,
        onlyIfPending: false,
        parentId: root.id,
        nodeId: this.deps.nodeId,
        treeMember: true,
      }),
    );
    return this.afterCancel(job, outcome, null);
  }

  /**
   * A `job` task was signalled: cancel its child. When the parent job itself is being
   * cancelled, the child is cancelled as part of that tree (its record's parent is the
   * parent's); otherwise (a cancel of the task alone) it is a cancel of its own, which walks
   * the child's own tree.
   */
  async cancelChildOfTask(parentJobId: string, childId: string, options: { force: boolean; reason: string | null }): Promise<CancelResult> {
    const parent = await this.deps.store.getJob(parentJobId);
    const summary = parent?.cancellation ?? null;
    const record = summary === null ? null : await this.deps.store.getCancellation(summary.id);
    if (record !== null && record.scope === "job" && record.status === "in_progress") return this.cancelInTree(childId, record, options.force || record.force);
    return this.cancelJob(childId, {
      reason: options.reason ?? record?.reason ?? `parent task cancelled (job ${parentJobId})`,
      requestedBy: record?.requestedBy ?? "system",
      force: options.force,
    });
  }

  private taskPlan(taskKey: string, opts: ParsedCancel): (d: JobDraft, id: string) => CancelOutcome {
    return (d, id) =>
      requestTaskCancel(d, id, taskKey, {
        reason: opts.reason,
        requestedBy: opts.requestedBy,
        force: opts.force,
        graceMs: opts.graceMs,
        cascade: opts.cascade,
        nodeId: this.deps.nodeId,
      });
  }

  /**
   * The job as a mutation would load it (its open records and its latest job record, oldest
   * first), read without a transaction: a preview is a moment's view, not a promise.
   */
  private async snapshot(jobId: string): Promise<JobSnapshot> {
    const job = await this.deps.store.getJob(jobId);
    if (job === null) throw new BelayError("JOB_NOT_FOUND", `job ${jobId} not found`, { details: { jobId } });
    const records = (await this.deps.store.listCancellations({ jobId }, { limit: 1000, offset: 0 })).items;
    const oldestFirst = [...records].sort((a, b) => (a.requestedAt < b.requestedAt ? -1 : a.requestedAt > b.requestedAt ? 1 : a.id < b.id ? -1 : 1));
    const latestJobRecord = oldestFirst.filter((r) => r.scope === "job").at(-1);
    return { job, cancellations: oldestFirst.filter((r) => r.status === "in_progress" || r === latestJobRecord) };
  }

  private async afterCancel(job: Job, outcome: CancelOutcome, waitMs: number | null): Promise<CancelResult> {
    crashPoint("cancel.requested");
    if (outcome.escalated) this.deps.executor.escalate(job.id, outcome.record.id);
    if (outcome.needsExecution) void this.deps.executor.execute(outcome.record);
    if (!outcome.alreadyCancelled) this.logInstantSteps(outcome.record);
    if (waitMs !== null && outcome.record.status === "in_progress") {
      await Promise.race([this.deps.executor.whenDone(outcome.record.id), new Promise((r) => setTimeout(r, waitMs).unref())]);
      const [latestJob, latestRecord] = await Promise.all([this.deps.store.getJob(job.id), this.deps.store.getCancellation(outcome.record.id)]);
      return { job: latestJob ?? job, cancellation: latestRecord ?? outcome.record, alreadyCancelled: outcome.alreadyCancelled && latestRecord?.status !== "in_progress" };
    }
    return {
      job,
      cancellation: outcome.record,
      alreadyCancelled: outcome.alreadyCancelled && outcome.record.status !== "in_progress",
    };
  }

  private logInstantSteps(record: CancellationRecord): void {
    for (const step of record.steps) if (step.finishedAt !== null) logStep(this.deps.logger, record, step);
  }

  /** Cancel every non-terminal job matching a filter; `dryRun` only counts (DESIGN §3 "Bulk cancel"). */
  async cancelJobs(options: BulkCancelOptions): Promise<BulkCancelResult> {
    const { filter, cancel: opts, idempotencyKey: key, dryRun, sampleSize, quiesce } = parseBulkCancelOptions(options);
    if (dryRun) {
      const { ids, total } = await this.deps.store.findJobIds(filter, sampleSize);
      return { matched: total, cancelled: 0, sample: ids, cancellation: null };
    }
    if (key !== null) {
      const existing = await this.deps.store.getCancellationByIdempotencyKey(key);
      if (existing !== null) {
        const detail = existing.steps[0]?.detail;
        const counts = existing.steps.find((s) => s.name === "cancel_jobs")?.detail ?? detail;
        return { matched: Number(counts?.["matched"] ?? existing.progress?.total ?? 0), cancelled: Number(counts?.["cancelled"] ?? 0), cancellation: existing };
      }
    }
    // Quiesce first: once the producers are paused, the selection below is the last of their work.
    const quiesceStartedAt = this.deps.now();
    const quiesced = quiesce ? await this.deps.quiesce(filter, opts.requestedBy, opts.reason ?? "bulk cancel with quiesce") : null;
    const { ids, total } = await this.deps.store.findJobIds(filter, 10_000_000);
    const bulk = newRecord({
      id: newId(),
      jobId: null,
      taskKey: null,
      scope: "bulk",
      parentId: null,
      reason: opts.reason,
      requestedBy: opts.requestedBy,
      force: opts.force,
      cascade: true,
      graceMs: opts.graceMs ?? 0,
      now: this.deps.now(),
      steps: quiesced === null ? ["cancel_jobs", "finalize"] : ["quiesce", "cancel_jobs", "finalize"],
      idempotencyKey: key,
      // The node that finishes it: if this one dies, recovery elsewhere (or at its restart) does.
      executorNodeId: this.deps.nodeId,
    });
    bulk.progress = { total, done: 0 };
    if (quiesced !== null) {
      const step = bulk.steps[0];
      if (step !== undefined) Object.assign(step, { status: "completed", startedAt: quiesceStartedAt, finishedAt: this.deps.now(), detail: quiesced });
    }
    const cancelStep = bulk.steps.find((s) => s.name === "cancel_jobs");
    if (cancelStep !== undefined) {
      cancelStep.status = "running";
      cancelStep.startedAt = bulk.requestedAt;
    }
    await this.deps.store.insertCancellation(bulk);

    let cancelled = 0;
    let done = 0;
    const running: Array<Promise<void>> = [];
    const errors: string[] = [];
    await this.deps.writer.mutateMany(
      ids,
      (d) =>
        requestJobCancel(d, newId(), {
          reason: opts.reason,
          requestedBy: opts.requestedBy,
          force: opts.force,
          graceMs: opts.graceMs,
          onlyIfPending: false,
          parentId: bulk.id,
          nodeId: this.deps.nodeId,
        }),
      {
        // Written in each chunk's transaction: the record shows what has committed, chunk by chunk.
        progress: (chunk) => {
          const chunkDone = chunk.filter((r) => "error" in r || !r.value.needsExecution).length;
          const record = structuredClone(bulk);
          record.progress = { total, done: done + chunkDone };
          return record;
        },
        // A job whose cancel needs I/O (it has a running task) starts executing as soon as its chunk has committed.
        afterChunk: (chunk) => {
          for (const result of chunk) {
            if ("error" in result) {
              // A job that finished between the selection and its cancel is not an error of the bulk cancel.
              if (!(result.error instanceof BelayError && result.error.code === "JOB_ALREADY_FINISHED")) {
                errors.push(`${result.jobId}: ${(result.error as Error).message}`);
              }
              done += 1;
              continue;
            }
            const outcome = result.value;
            if (!outcome.alreadyCancelled) cancelled += 1;
            if (outcome.needsExecution) running.push(this.deps.executor.execute(outcome.record));
            else done += 1;
          }
          bulk.progress = { total, done };
        },
      },
    );
    bulk.errors.push(...errors);
    bulk.progress = { total, done: total - running.length };
    if (cancelStep !== undefined) cancelStep.detail = { matched: total, cancelled };
    await this.deps.store.updateCancellation(bulk);
    const finishing = this.finishBulk(bulk, running);
    this.bulkExecutions.add(finishing);
    this.finishingBulk.add(bulk.id);
    void finishing.finally(() => {
      this.bulkExecutions.delete(finishing);
      this.finishingBulk.delete(bulk.id);
    });
    return { matched: total, cancelled, cancellation: bulk };
  }

  /**
   * Finish a bulk record whose node stopped finishing it (it crashed or was declared dead;
   * recovery calls this): once each of its job records has finished (their executors are
   * recovered like any), the bulk record is finished from them. If the node died before it
   * had cancelled every selected job, the record says so in its errors and is `partial`.
   */
  async resumeBulk(bulk: CancellationRecord): Promise<void> {
    if (this.finishingBulk.has(bulk.id)) return;
    this.finishingBulk.add(bulk.id);
    try {
      for (;;) {
        const children = await this.deps.store.listCancellations({ parentId: bulk.id }, { limit: 100_000, offset: 0 });
        if (children.items.every((c) => c.status !== "in_progress")) break;
        await new Promise((r) => setTimeout(r, 200).unref());
      }
      const cancelStep = bulk.steps.find((s) => s.name === "cancel_jobs");
      if (cancelStep?.detail?.["matched"] === undefined) {
        bulk.errors.push("interrupted: the node carrying out this bulk cancel stopped before it had cancelled every selected job; run it again for the rest");
      }
      await this.finishBulk(bulk, []);
    } finally {
      this.finishingBulk.delete(bulk.id);
    }
  }

  /** A bulk record is finished when each of its job records is. */
  private async finishBulk(bulk: CancellationRecord, running: Array<Promise<void>>): Promise<void> {
    const total = bulk.progress?.total ?? 0;
    let done = total - running.length;
    await Promise.all(
      running.map(async (p) => {
        await p;
        done += 1;
        bulk.progress = { total, done };
      }),
    );
    const children = await this.deps.store.listCancellations({ parentId: bulk.id }, { limit: 100_000, offset: 0 });
    const bad = children.items.filter((c) => c.status === "partial" || c.status === "failed");
    const now = this.deps.now();
    for (const step of bulk.steps) {
      if (step.name === "quiesce") continue; // finished, with its own times, before the cancels began
      step.startedAt ??= bulk.requestedAt;
      step.finishedAt = now;
      step.status = "completed";
    }
    const cancelStep = bulk.steps.find((s) => s.name === "cancel_jobs");
    if (cancelStep !== undefined) cancelStep.detail = { ...cancelStep.detail, jobs: children.items.length, partial: bad.length };
    bulk.status = bad.length > 0 || bulk.errors.length > 0 ? "partial" : "completed";
    bulk.progress = { total, done: total };
    bulk.completedAt = now;
    bulk.durationMs = Date.parse(now) - Date.parse(bulk.requestedAt);
    await this.deps.store.updateCancellation(bulk);
  }
}
