/**
 * A cancel's preview (DESIGN §7 "Preview", `dryRun: true`): what a job or task cancel would do,
 * decided by the very rule that plans the real one — `requestJobCancel` / `requestTaskCancel`,
 * handed in as `plan` — run on a copy of the job, whose changes are read and then dropped.
 * No second rule: a preview and the cancel it previews cannot disagree, errors included (a
 * finished job's preview is refused with the same 409).
 */
import { runnersToStop } from "./cancellation.ts";
import type { CancelOutcome } from "./cancellation.ts";
import { JobDraft } from "./draft.ts";
import type { JobSnapshot } from "./draft.ts";
import type { AffectedTask, StepName, TaskKind } from "./model.ts";
import type { JobStatus } from "./states.ts";

/** One runner the cancel would stop, and how. */
export interface PreviewRunner {
  key: string;
  kind: TaskKind;
  attempt: number;
  /** The node running it (null: not known yet, e.g. it is being claimed). */
  nodeId: string | null;
  /** `signal`: the cooperative stop, then a kill once `graceMs` is over; `kill`: at once (force). */
  stop: "signal" | "kill";
  graceMs: number;
}

export interface CancelPreview {
  jobId: string;
  taskKey: string | null;
  scope: "job" | "task";
  /**
   * What the request would be: a new cancellation (`cancel`), a repeat answered with the
   * existing record (`repeat`), or a forced repeat that escalates the cancel under way (`escalate`).
   */
  outcome: "cancel" | "repeat" | "escalate";
  /** The job's status now and right after the request. */
  jobStatus: { from: JobStatus; to: JobStatus };
  /** True when the cancel would end in the request itself (HTTP 200), false when it would run on (202). */
  completesAtOnce: boolean;
  /** Tasks the request itself would move (pending → cancelled, running → cancelling). */
  tasks: AffectedTask[];
  /** Runners it would stop. */
  runners: PreviewRunner[];
  /** Compensation tasks (`runOn: "cancel"`) that would run after the stop. */
  compensations: Array<{ key: string; kind: TaskKind }>;
  /** The record's steps, in order. */
  steps: StepName[];
  /**
   * Child jobs a job cancel would reach (DESIGN §7 cancel trees): every unfinished descendant
   * it would cancel, and the children it would leave running (`onParentCancel: "detach"`,
   * whose own subtrees it does not reach). Filled by the engine, which reads the tree; empty
   * for a task cancel and for a repeat.
   */
  descendants: Array<{ jobId: string; onParentCancel: string; status: string }>;
}

/**
 * The preview of one cancel. `plan` is the real request's own planner; it runs on a deep copy
 * of `snapshot`, so neither the snapshot nor anything stored changes.
 */
export function previewCancel(snapshot: JobSnapshot, now: string, scope: "job" | "task", taskKey: string | null, plan: (d: JobDraft, newId: string) => CancelOutcome): CancelPreview {
  const copy = structuredClone(snapshot);
  const before = new Map(copy.job.tasks.map((t) => [t.key, t.status]));
  const from = copy.job.status;
  const d = new JobDraft(copy, now);
  const outcome = plan(d, "00000000-0000-7000-8000-000000000000");
  const record = outcome.record;
  const kindOf = new Map(d.tasks.map((t) => [t.key, t.kind]));
  const tasks: AffectedTask[] = d.tasks
    .filter((t) => before.get(t.key) !== t.status)
    .map((t) => ({ key: t.key, from: before.get(t.key) ?? t.status, to: t.status }));
  const stopping = outcome.alreadyCancelled && !outcome.escalated ? [] : runnersToStop(record);
  const force = record.force || outcome.escalated;
  return {
    jobId: d.job.id,
    taskKey,
    scope,
    outcome: outcome.escalated ? "escalate" : outcome.alreadyCancelled ? "repeat" : "cancel",
    jobStatus: { from, to: d.job.status },
    completesAtOnce: record.status !== "in_progress",
    tasks,
    runners: stopping.map((r) => ({
      key: r.key,
      kind: kindOf.get(r.key) ?? "process",
      attempt: r.attempt,
      nodeId: r.nodeId,
      stop: force ? "kill" : "signal",
      graceMs: force ? 0 : (r.graceMs ?? record.graceMs),
    })),
    compensations: record.steps.some((s) => s.name === "compensate") && !outcome.alreadyCancelled
      ? d.tasks.filter((t) => t.runOn === "cancel").map((t) => ({ key: t.key, kind: t.kind }))
      : [],
    steps: record.steps.map((s) => s.name),
    descendants: [],
  };
}
