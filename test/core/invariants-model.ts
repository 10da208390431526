/**
 * The interpreter behind `invariants.property.test.ts`: it plays a random sequence of
 * operations (submit, claim, progress, runner exits, cancels, resume, finalize) against a
 * real `SqliteStore` through the pure rules of `src/core`, the way the engine does, and
 * after every step checks the invariants of DESIGN §2 (1–6) and the cancel table of §3.
 *
 * Operations name their targets by index (`job: 7` is the 7 % n-th submitted job), so every
 * generated sequence is meaningful whatever state it meets, and fast-check can shrink it.
 */
import { isDeepStrictEqual } from "node:util";
import { finalizeCancellation, newRecord, requestJobCancel, requestTaskCancel } from "../../src/core/cancellation.ts";
import type { CancelOutcome, CancelRequest, TaskCancelRequest } from "../../src/core/cancellation.ts";
import { isBelayError } from "../../src/core/errors.ts";
import type { ErrorCode } from "../../src/core/errors.ts";
import { claimTask, endAttempt, newJob, recordProgress, resumeJob, startCompensation } from "../../src/core/lifecycle.ts";
import { settle } from "../../src/core/settle.ts";
import type { AttemptEnd } from "../../src/core/lifecycle.ts";
import type { BelayEvent, CancellationRecord, Job, Json, Task } from "../../src/core/model.ts";
import type { MutationResult } from "../../src/store/store.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import type { JobSpecInput, TaskSpecInput } from "../../src/core/spec.ts";
import { canTransitionJob, canTransitionTask, isTerminalJob, isTerminalTask, resumableJobStatuses } from "../../src/core/states.ts";
import type { JobStatus, TaskStatus } from "../../src/core/states.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

// ---------------------------------------------------------------------------------------
// Plans and operations

export interface TaskPlan {
  /** Dependencies on earlier tasks (`on` is taken modulo the task's index). */
  deps: Array<{ on: number; skip: boolean }>;
  retries: number;
}

export interface JobPlan {
  tasks: TaskPlan[];
  /** Compensation tasks (`runOn: "cancel"`), `c0`, `c1`…; each may depend on the earlier ones. */
  compensation: TaskPlan[];
  failFast: boolean;
}

export type Op =
  | { t: "submit" }
  | { t: "claim"; max: number }
  | { t: "claimOne"; job: number; task: number }
  | { t: "progress"; runner: number; ratio: number; late: boolean }
  | { t: "exit"; runner: number; outcome: "succeeded" | "failed"; interrupted: boolean }
  | { t: "signal"; runner: number }
  | { t: "exitAfterSignal"; runner: number; outcome: "succeeded" | "failed"; forced: boolean }
  | { t: "late"; runner: number; outcome: "succeeded" | "failed" }
  | { t: "cancelJob"; job: number; onlyIfPending: boolean; force: boolean; graceMs: number | null; repeat: boolean }
  | { t: "cancelTask"; job: number; task: number; cascade: boolean | null; force: boolean; repeat: boolean }
  | { t: "bulkCancel"; force: boolean }
  | { t: "compensate"; job: number }
  | { t: "resume"; job: number }
  | { t: "finalize"; job: number; record: number; cleanupFailed: boolean };

export function specOf(plan: JobPlan): JobSpecInput {
  const task = (prefix: string, runOn: "normal" | "cancel") => (t: TaskPlan, i: number): TaskSpecInput => {
    const seen = new Set<number>();
    const dependsOn: Array<string | { key: string; onCancel: "cascade" | "skip" }> = [];
    if (i > 0) {
      for (const dep of t.deps) {
        const on = dep.on % i;
        if (seen.has(on)) continue;
        seen.add(on);
        dependsOn.push(dep.skip ? { key: `${prefix}${on}`, onCancel: "skip" } : `${prefix}${on}`);
      }
    }
    return { key: `${prefix}${i}`, kind: "handler", handler: "h", retries: t.retries, dependsOn, runOn };
  };
  return {
    name: "j",
    failFast: plan.failFast,
    tasks: [...plan.tasks.map(task("t", "normal")), ...plan.compensation.map(task("c", "cancel"))],
  };
}

// ---------------------------------------------------------------------------------------
// Helpers

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new InvariantViolation(message());
}

function pick<T>(items: readonly T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[index % items.length];
}

function taskOf(job: Job, key: string): Task {
  const task = job.tasks.find((t) => t.key === key);
  if (task === undefined) throw new InvariantViolation(`job ${job.id} has no task ${key}`);
  return task;
}

function work(job: Job): Task[] {
  return job.tasks.filter((t) => t.runOn === "normal");
}

const active = (s: TaskStatus): boolean => s === "running" || s === "cancelling";

/** Refusals DESIGN §3 expects; anything else thrown (ILLEGAL_TRANSITION, INTERNAL, …) fails the property. */
const expectedRefusals: ReadonlySet<ErrorCode> = new Set(["JOB_ALREADY_FINISHED", "JOB_NOT_PENDING", "TASK_ALREADY_FINISHED", "JOB_NOT_RESUMABLE"]);

type Attempted<T> = { ok: true; value: T } | { ok: false; code: ErrorCode };

async function attempt<T>(fn: () => Promise<T>): Promise<Attempted<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    if (isBelayError(error) && expectedRefusals.has(error.code)) return { ok: false, code: error.code };
    throw error;
  }
}

const clampRatio = (r: number): number => Math.max(0, Math.min(1, r));

const jobStatusEvents: ReadonlySet<string> = new Set([
  "belay.job.started",
  "belay.job.cancel_requested",
  "belay.job.cancelled",
  "belay.job.succeeded",
  "belay.job.failed",
  "belay.job.partial",
]);
const taskStatusEvents: ReadonlySet<string> = new Set([
  "belay.task.started",
  "belay.task.succeeded",
  "belay.task.failed",
  "belay.task.cancelled",
  "belay.task.skipped",
]);

class ProbeClaimed extends Error {}

// ---------------------------------------------------------------------------------------
// The world

interface Runner {
  jobId: string;
  key: string;
  attempt: number;
  /** The cancel signal reached it (the engine delivers it some time after the cancel). */
  signalled: boolean;
  serial: number;
}

interface RecordInfo {
  jobId: string;
  scope: "job" | "task";
  taskKey: string | null;
  /** The job attempt in which the cancel was accepted. */
  jobAttempt: number;
  force: boolean;
}

interface ProgressSent {
  key: string;
  attempt: number;
  ratio: number;
}

const baseMs = Date.UTC(2030, 0, 1);

export interface RunStats {
  steps: number;
  claims: number;
  cancels: number;
  resumes: number;
  finalized: number;
  refusals: number;
  /** How often each interesting situation was reached (`exit cancelling→cancelled`, `finalize too_late`, …). */
  reached: Record<string, number>;
}

export class World {
  readonly store = new SqliteStore({ path: ":memory:" });
  readonly trace: string[] = [];
  readonly stats: RunStats = { steps: 0, claims: 0, cancels: 0, resumes: 0, finalized: 0, refusals: 0, reached: {} };
  private readonly jobIds: string[] = [];
  private tick = 0;
  private ids = 0;
  private serials = 0;
  private runners: Runner[] = [];
  private readonly dead: Runner[] = [];
  /** Each job as the last check saw it: the state before the next operation. */
  private readonly prev = new Map<string, Job>();
  private readonly records = new Map<string, RecordInfo>();
  private readonly latestJobRecord = new Map<string, string>();
  private readonly latestTaskRecord = new Map<string, string>();
  /** The latest record accepted for each job: the one its `cancellation` summary shows. */
  private readonly latestRecord = new Map<string, string>();
  /** A finished record's status and completion time, as first seen: they never change again. */
  private readonly finishedRecords = new Map<string, string>();
  private readonly progress = new Map<string, ProgressSent[]>();
  private readonly outputs = new Map<string, Json>();
  /** The job a resume was accepted for in the current step. */
  private resumedNow: string | null = null;

  private readonly plans: readonly JobPlan[];

  constructor(plans: readonly JobPlan[]) {
    this.plans = plans;
  }

  async open(): Promise<void> {
    await this.store.migrate();
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private now(): string {
    this.tick += 1;
    return new Date(baseMs + this.tick).toISOString();
  }

  private newId(): string {
    this.ids += 1;
    return `00000000-0000-7000-8000-${this.ids.toString(16).padStart(12, "0")}`;
  }

  private before(jobId: string): Job {
    const job = this.prev.get(jobId);
    if (job === undefined) throw new InvariantViolation(`no snapshot of job ${jobId}`);
    return job;
  }

  private log(line: string): void {
    this.trace.push(line);
  }

  private reach(label: string): void {
    this.stats.reached[label] = (this.stats.reached[label] ?? 0) + 1;
  }

  // ---- operations ---------------------------------------------------------------------

  async run(op: Op): Promise<void> {
    this.stats.steps += 1;
    this.resumedNow = null;
    switch (op.t) {
      case "submit":
        await this.submit();
        break;
      case "claim":
        await this.claim(op.max);
        break;
      case "claimOne":
        await this.claimOne(op.job, op.task);
        break;
      case "progress":
        await this.sendProgress(op.runner, op.ratio, op.late);
        break;
      case "exit":
        await this.exit(op.runner, op.outcome, op.interrupted);
        break;
      case "signal":
        this.signal(op.runner);
        break;
      case "exitAfterSignal":
        await this.exitAfterSignal(op.runner, op.outcome, op.forced);
        break;
      case "late":
        await this.lateExit(op.runner, op.outcome);
        break;
      case "cancelJob":
        await this.cancelJob(op);
        break;
      case "cancelTask":
        await this.cancelTask(op);
        break;
      case "bulkCancel":
        await this.bulkCancel(op.force);
        break;
      case "compensate":
        await this.compensate(op.job);
        break;
      case "resume":
        await this.resume(op.job);
        break;
      case "finalize":
        await this.finalize(op.job, op.record, op.cleanupFailed);
        break;
    }
    await this.checkAll();
  }

  async submit(): Promise<void> {
    const plan = this.plans[this.jobIds.length];
    if (plan === undefined) return;
    const id = this.newId();
    const job = newJob(parseJobSpec(specOf(plan)), { id, owner: "t", now: this.now() });
    this.log(`submit ${id} ${JSON.stringify(specOf(plan).tasks?.map((t) => [t.key, t.dependsOn, t.retries]))} failFast=${plan.failFast}`);
    await this.store.insertJob((d) => {
      d.emit("belay.job.created", null, {});
      settle(d);
    }, job);
    this.jobIds.push(id);
  }

  private addRunner(jobId: string, task: Task): void {
    const pre = this.before(jobId);
    const preTask = taskOf(pre, task.key);
    check(pre.status === "queued" || pre.status === "running", () => `invariant 2: claimed ${jobId}/${task.key} of a ${pre.status} job`);
    check(preTask.status === "pending" && preTask.ready, () => `claimed ${jobId}/${task.key} that was ${preTask.status} (ready=${preTask.ready})`);
    check(task.attempt === preTask.attempt + 1, () => `claim of ${jobId}/${task.key}: attempt ${preTask.attempt} → ${task.attempt}`);
    this.serials += 1;
    this.runners.push({ jobId, key: task.key, attempt: task.attempt, signalled: false, serial: this.serials });
    this.stats.claims += 1;
  }

  async claim(max: number): Promise<number> {
    const claimed = await this.store.claimTasks({ nodeId: "n1", max, pools: {}, now: this.now() }, (d, key) => claimTask(d, key, "n1"));
    this.log(`claim max=${max} → ${claimed.map((c) => `${c.jobId}/${c.taskKey}#${c.value.task.attempt}`).join(", ") || "nothing"}`);
    for (const c of claimed) this.addRunner(c.jobId, c.value.task);
    return claimed.length;
  }

  async claimOne(jobIndex: number, taskIndex: number): Promise<void> {
    const jobId = pick(this.jobIds, jobIndex);
    if (jobId === undefined) return;
    const pre = this.before(jobId);
    const key = pick(pre.tasks, taskIndex)?.key ?? "t0";
    const preTask = taskOf(pre, key);
    const { value } = await this.store.mutateJob(jobId, this.now(), (d) => claimTask(d, key, "n2"));
    this.log(`claimOne ${jobId}/${key} (${pre.status}/${preTask.status}, ready=${preTask.ready}) → ${value === null ? "null" : `#${value.task.attempt}`}`);
    if (value !== null) {
      this.addRunner(jobId, value.task);
    } else {
      const claimable = (pre.status === "queued" || pre.status === "running") && preTask.status === "pending" && preTask.ready;
      check(!claimable, () => `claimOne ${jobId}/${key}: a ready pending task of a ${pre.status} job was refused`);
    }
  }

  async sendProgress(runnerIndex: number, ratio: number, late: boolean): Promise<void> {
    const runner = pick(late ? this.dead : this.runners, runnerIndex);
    if (runner === undefined) return;
    const message = `m${this.tick}`;
    const { value: accepted } = await this.store.mutateJob(runner.jobId, this.now(), (d) =>
      recordProgress(d, runner.key, runner.attempt, { ratio, message }),
    );
    this.log(`progress ${late ? "(late) " : ""}${runner.jobId}/${runner.key}#${runner.attempt} ratio=${ratio} → ${accepted}`);
    check(accepted === !late, () => `progress of a ${late ? "dead" : "live"} runner returned ${accepted}`);
    if (accepted) {
      const list = this.progress.get(runner.jobId) ?? [];
      list.push({ key: runner.key, attempt: runner.attempt, ratio: clampRatio(ratio) });
      this.progress.set(runner.jobId, list);
    }
  }

  /** A runner's exit, recorded the way the engine records it. Returns the task's new status. */
  private async recordExit(runner: Runner, end: AttemptEnd): Promise<TaskStatus> {
    const pre = this.before(runner.jobId);
    const preTask = taskOf(pre, runner.key);
    const result = await this.store.mutateJob(runner.jobId, this.now(), (d) => endAttempt(d, runner.key, runner.attempt, end));
    check(result.value.applied, () => `exit of live runner ${runner.jobId}/${runner.key}#${runner.attempt} was not applied`);
    this.runners = this.runners.filter((r) => r !== runner);
    this.dead.push(runner);
    this.outputs.set(`${runner.jobId}/${runner.key}`, end.output);
    const post = taskOf(result.job, runner.key);
    let expected: TaskStatus;
    if (preTask.status === "cancelling") {
      // DESIGN §3: signalled then exiting with any code is `cancelled`; finished before the signal keeps its result.
      expected = end.signalDelivered || end.forced ? "cancelled" : end.outcome;
    } else if (end.interrupted === true && pre.status === "running") {
      expected = "pending";
    } else if (end.outcome === "succeeded") {
      expected = "succeeded";
    } else {
      expected = preTask.retriesUsed < preTask.retries && pre.status === "running" ? "pending" : "failed";
    }
    this.log(
      `  exit ${runner.jobId}/${runner.key}#${runner.attempt} from ${preTask.status} outcome=${end.outcome} signal=${end.signalDelivered} forced=${end.forced} interrupted=${end.interrupted === true} → ${post.status} (job ${result.job.status})`,
    );
    check(post.status === expected, () => `exit of ${runner.jobId}/${runner.key} from ${preTask.status}: expected ${expected}, got ${post.status}`);
    this.reach(`exit ${preTask.status}→${post.status}${preTask.status === "cancelling" && !end.signalDelivered && !end.forced ? " (finished first)" : ""}`);
    if (result.value.toStop.length > 0) {
      this.log(`  failFast stops ${result.value.toStop.join(", ")}`);
      this.reach("failFast stops a runner");
    }
    return post.status;
  }

  async exit(runnerIndex: number, outcome: "succeeded" | "failed", interrupted: boolean): Promise<void> {
    const runner = pick(this.runners, runnerIndex);
    if (runner === undefined) return;
    this.log(`exit${runner.signalled ? " (after signal)" : ""}`);
    await this.recordExit(runner, {
      outcome,
      exitCode: runner.signalled ? 143 : outcome === "succeeded" ? 0 : 1,
      error: outcome === "failed" ? "boom" : null,
      output: { runner: runner.serial },
      signalDelivered: runner.signalled,
      forced: false,
      interrupted,
    });
  }

  private cancellingRunners(): Runner[] {
    return this.runners.filter((r) => taskOf(this.before(r.jobId), r.key).status === "cancelling");
  }

  signal(runnerIndex: number): void {
    const runner = pick(
      this.cancellingRunners().filter((r) => !r.signalled),
      runnerIndex,
    );
    if (runner === undefined) return;
    runner.signalled = true;
    this.log(`signal ${runner.jobId}/${runner.key}#${runner.attempt}`);
  }

  async exitAfterSignal(runnerIndex: number, outcome: "succeeded" | "failed", forced: boolean): Promise<void> {
    const runner = pick(this.cancellingRunners(), runnerIndex);
    if (runner === undefined) return;
    runner.signalled = true;
    this.log(`exitAfterSignal${forced ? " (killed)" : ""}`);
    await this.recordExit(runner, {
      outcome,
      exitCode: forced ? 137 : 143,
      error: null,
      output: { runner: runner.serial },
      signalDelivered: !forced,
      forced,
    });
  }

  /** A late or repeated report from a runner that has already exited: it must change nothing. */
  async lateExit(runnerIndex: number, outcome: "succeeded" | "failed"): Promise<void> {
    const runner = pick(this.dead, runnerIndex);
    if (runner === undefined) return;
    const result = await this.store.mutateJob(runner.jobId, this.now(), (d) =>
      endAttempt(d, runner.key, runner.attempt, {
        outcome,
        exitCode: 0,
        error: null,
        output: { late: runner.serial },
        signalDelivered: true,
        forced: false,
      }),
    );
    this.log(`late exit ${runner.jobId}/${runner.key}#${runner.attempt} → applied=${result.value.applied}`);
    check(!result.value.applied && result.events.length === 0, () => `a late exit report of ${runner.jobId}/${runner.key}#${runner.attempt} was applied`);
  }

  private acceptNew(jobId: string, outcome: CancelOutcome, newId: string, jobAttempt: number, force: boolean): void {
    const record = outcome.record;
    check(record.id === newId, () => `a new record was expected to take id ${newId}, got ${record.id}`);
    check(!this.records.has(record.id), () => `record ${record.id} accepted twice`);
    check(record.scope === "job" || record.scope === "task", () => `unexpected scope ${record.scope}`);
    this.records.set(record.id, { jobId, scope: record.scope === "job" ? "job" : "task", taskKey: record.taskKey, jobAttempt, force });
    this.latestRecord.set(jobId, record.id);
    if (record.scope === "job") this.latestJobRecord.set(jobId, record.id);
    else this.latestTaskRecord.set(`${jobId}/${record.taskKey ?? ""}`, record.id);
    this.stats.cancels += 1;
    this.reach(`new ${record.scope} record ${record.status}`);
  }

  private expectRepeat(outcome: CancelOutcome, expectedId: string | undefined, force: boolean, what: string): void {
    check(outcome.alreadyCancelled, () => `${what}: expected the existing record ${expectedId}, got a new one ${outcome.record.id}`);
    check(expectedId !== undefined && outcome.record.id === expectedId, () => `${what}: returned record ${outcome.record.id}, expected ${expectedId}`);
    const info = this.records.get(outcome.record.id);
    check(info !== undefined, () => `${what}: returned unknown record ${outcome.record.id}`);
    const escalates = force && !info.force && outcome.record.status === "in_progress";
    check(outcome.escalated === escalates, () => `${what}: escalated=${outcome.escalated}, expected ${escalates}`);
    check(outcome.toSignal.length === 0 && !outcome.needsExecution, () => `${what}: a repeat asked for execution`);
    if (escalates) info.force = true;
    this.reach(`repeat returns ${info.scope} record${escalates ? " (escalated)" : ""}`);
  }

  /** The §3 table: what a job cancel must do to a job in each state. Returns the outcome when the cancel was accepted. */
  private expectJobCancel(
    jobId: string,
    pre: Job,
    req: CancelRequest,
    id: string,
    res: Attempted<MutationResult<CancelOutcome>>,
  ): CancelOutcome | null {
    const what = `cancelJob of a ${pre.status} job${req.onlyIfPending ? " (onlyIfPending)" : ""}`;
    switch (pre.status) {
      case "succeeded":
      case "failed":
      case "partial": {
        // With onlyIfPending the refusal says the job is not pending (seed 003), else that it finished.
        const expected = req.onlyIfPending ? "JOB_NOT_PENDING" : "JOB_ALREADY_FINISHED";
        check(!res.ok && res.code === expected, () => `${what}: expected ${expected}, got ${res.ok ? "success" : res.code}`);
        this.stats.refusals += 1;
        this.reach(`refusal ${res.ok ? "" : res.code}`);
        return null;
      }
      case "running":
        if (req.onlyIfPending) {
          check(!res.ok && res.code === "JOB_NOT_PENDING", () => `${what}: expected JOB_NOT_PENDING, got ${res.ok ? "success" : res.code}`);
          this.stats.refusals += 1;
          this.reach(`refusal ${res.ok ? "" : res.code}`);
          return null;
        }
        break;
      default:
        break;
    }
    check(res.ok, () => `${what}: refused with ${res.ok ? "" : res.code}`);
    const { value: outcome, job: post } = res.value;
    if (pre.status === "queued" || pre.status === "running") {
      check(!outcome.alreadyCancelled, () => `${what}: alreadyCancelled on a first cancel`);
      this.acceptNew(jobId, outcome, id, pre.attempt, req.force);
      check(outcome.record.parentId === req.parentId, () => `${what}: record parent ${outcome.record.parentId}, expected ${req.parentId}`);
      const compensation = pre.tasks.some((t) => t.runOn === "cancel");
      if (pre.status === "queued" && !compensation) {
        // Invariant 4 (and the §3 table): a queued job is cancelled at once, in this transaction.
        check(post.status === "cancelled", () => `${what}: job is ${post.status}, expected cancelled at once`);
        check(outcome.record.status === "completed", () => `${what}: record ${outcome.record.status}, expected completed`);
        check(!outcome.needsExecution && outcome.toSignal.length === 0, () => `${what}: needs execution`);
      } else {
        // A running job, or a queued one whose compensation tasks must still run: dispatch is blocked at once.
        check(post.status === "cancelling", () => `${what}: job is ${post.status}, expected cancelling`);
        check(outcome.record.status === "in_progress" && outcome.needsExecution, () => `${what}: record ${outcome.record.status}`);
        const wasActive = work(pre)
          .filter((t) => active(t.status))
          .map((t) => t.key);
        check(isDeepStrictEqual([...outcome.toSignal].sort(), wasActive.sort()), () => `${what}: toSignal ${outcome.toSignal.join(",")}, expected ${wasActive.join(",")}`);
        check(
          work(post).every((t) => t.status !== "pending" && t.status !== "running"),
          () => `${what}: a task is still pending or running`,
        );
      }
    } else {
      // cancelling or cancelled: the same record (invariant 5).
      this.expectRepeat(outcome, this.latestJobRecord.get(jobId), req.force, what);
      check(post.status === pre.status, () => `${what}: a repeat moved the job to ${post.status}`);
    }
    return outcome;
  }

  async cancelJob(op: Extract<Op, { t: "cancelJob" }>): Promise<void> {
    const jobId = pick(this.jobIds, op.job);
    if (jobId === undefined) return;
    const pre = this.before(jobId);
    const req: CancelRequest = { reason: "r", requestedBy: "test", force: op.force, graceMs: op.graceMs, onlyIfPending: op.onlyIfPending, parentId: null };
    const id = this.newId();
    const res = await attempt(() => this.store.mutateJob(jobId, this.now(), (d) => requestJobCancel(d, id, req)));
    this.log(
      `cancelJob ${jobId} (${pre.status}) onlyIfPending=${op.onlyIfPending} force=${op.force} → ${res.ok ? `${res.value.value.record.id} already=${res.value.value.alreadyCancelled} ${res.value.job.status}` : res.code}`,
    );
    const outcome = this.expectJobCancel(jobId, pre, req, id, res);
    if (outcome !== null && op.repeat) {
      const again = this.newId();
      const rep = await attempt(() => this.store.mutateJob(jobId, this.now(), (d) => requestJobCancel(d, again, req)));
      this.log(`  repeat → ${rep.ok ? `${rep.value.value.record.id} already=${rep.value.value.alreadyCancelled}` : rep.code}`);
      check(rep.ok, () => `repeat of an accepted job cancel refused: ${rep.ok ? "" : rep.code}`);
      this.expectRepeat(rep.value.value, outcome.record.id, op.force, `repeat of a job cancel (first on a ${pre.status} job)`);
    }
  }

  /** A bulk cancel of every submitted job, finished or not, through `mutateJobs` (one transaction per chunk). */
  async bulkCancel(force: boolean): Promise<void> {
    if (this.jobIds.length === 0) return;
    const bulk = newRecord({
      id: this.newId(),
      jobId: null,
      taskKey: null,
      scope: "bulk",
      parentId: null,
      reason: "bulk",
      requestedBy: "test",
      force,
      cascade: true,
      graceMs: 0,
      now: this.now(),
      steps: ["cancel_jobs", "finalize"],
    });
    await this.store.insertCancellation(bulk);
    const req: CancelRequest = { reason: "bulk", requestedBy: "test", force, graceMs: null, onlyIfPending: false, parentId: bulk.id };
    const ids = new Map<string, string>();
    const results = await this.store.mutateJobs([...this.jobIds], this.now(), (d) => {
      const id = this.newId();
      ids.set(d.job.id, id);
      return requestJobCancel(d, id, req);
    });
    check(results.length === this.jobIds.length, () => `bulk cancel returned ${results.length} results for ${this.jobIds.length} jobs`);
    this.log(`bulkCancel ${bulk.id} force=${force}`);
    for (const result of results) {
      const jobId = "error" in result ? result.jobId : result.job.id;
      const pre = this.before(jobId);
      let res: Attempted<MutationResult<CancelOutcome>>;
      if ("error" in result) {
        const error = result.error;
        if (!(isBelayError(error) && expectedRefusals.has(error.code))) throw error;
        res = { ok: false, code: error.code };
      } else {
        res = { ok: true, value: result };
      }
      this.log(`  ${jobId} (${pre.status}) → ${res.ok ? `${res.value.value.record.id} already=${res.value.value.alreadyCancelled} ${res.value.job.status}` : res.code}`);
      this.expectJobCancel(jobId, pre, req, ids.get(jobId) ?? "none", res);
    }
    bulk.status = "completed";
    bulk.completedAt = this.now();
    await this.store.updateCancellation(bulk);
    const children = await this.store.listCancellations({ parentId: bulk.id }, { limit: 1000, offset: 0 });
    const fresh = [...this.records.entries()].filter(([id]) => [...ids.values()].includes(id)).map(([id]) => id).sort();
    check(isDeepStrictEqual(children.items.map((r) => r.id).sort(), fresh), () => `bulk ${bulk.id} has children [${children.items.map((r) => r.id).join(", ")}], expected [${fresh.join(", ")}]`);
  }

  /**
   * The engine's `compensate` step: once every work task of a cancelling job has ended, start
   * its next pending compensation task (dependency order = index order).
   */
  async compensate(jobIndex: number): Promise<boolean> {
    const jobId = pick(this.jobIds, jobIndex);
    if (jobId === undefined) return false;
    const pre = this.before(jobId);
    if (pre.status !== "cancelling" || !work(pre).every((t) => isTerminalTask(t.status))) return false;
    const comp = pre.tasks.filter((t) => t.runOn === "cancel");
    if (comp.some((t) => active(t.status))) return false;
    const next = comp.find((t) => t.status === "pending");
    if (next === undefined) return false;
    const { value, job } = await this.store.mutateJob(jobId, this.now(), (d) => startCompensation(d, next.key, "n1"));
    const post = taskOf(job, next.key);
    this.log(`compensate ${jobId}/${next.key} → ${post.status}${value === null ? "" : `#${value.task.attempt}`}`);
    if (value === null) {
      check(post.status === "skipped", () => `compensation ${next.key} neither started nor skipped: ${post.status}`);
      this.reach("compensation skipped");
    } else {
      check(post.status === "running" && value.task.attempt === next.attempt + 1, () => `compensation ${next.key} started as ${post.status}`);
      this.serials += 1;
      this.runners.push({ jobId, key: next.key, attempt: value.task.attempt, signalled: false, serial: this.serials });
      this.reach("compensation started");
    }
    return true;
  }

  async cancelTask(op: Extract<Op, { t: "cancelTask" }>): Promise<void> {
    const jobId = pick(this.jobIds, op.job);
    if (jobId === undefined) return;
    const pre = this.before(jobId);
    const key = pick(work(pre), op.task)?.key ?? "t0";
    const preTask = taskOf(pre, key);
    const req: TaskCancelRequest = { reason: null, requestedBy: "test", force: op.force, graceMs: null, cascade: op.cascade };
    const id = this.newId();
    const res = await attempt(() => this.store.mutateJob(jobId, this.now(), (d) => requestTaskCancel(d, id, key, req)));
    this.log(
      `cancelTask ${jobId}/${key} (${pre.status}/${preTask.status}) cascade=${op.cascade} force=${op.force} → ${res.ok ? `${res.value.value.record.id} already=${res.value.value.alreadyCancelled} task=${taskOf(res.value.job, key).status} job=${res.value.job.status}` : res.code}`,
    );
    const what = `cancelTask ${key} (${preTask.status}) of a ${pre.status} job`;
    const taskRecordId = this.latestTaskRecord.get(`${jobId}/${key}`);
    if (isTerminalJob(pre.status)) {
      check(!res.ok && res.code === "JOB_ALREADY_FINISHED", () => `${what}: expected JOB_ALREADY_FINISHED, got ${res.ok ? "success" : res.code}`);
      this.stats.refusals += 1;
      this.reach(`refusal ${res.ok ? "" : res.code}`);
      return;
    }
    // Only a record accepted in this job attempt can have cancelled this attempt's task: a
    // resume starts a new attempt, and a record of an earlier one is history (invariants 1, 5).
    const taskRecordIsCurrent = taskRecordId !== undefined && this.records.get(taskRecordId)?.jobAttempt === pre.attempt;
    let expectedId: string | undefined;
    if (pre.status === "cancelling") {
      expectedId = this.latestJobRecord.get(jobId);
    } else if ((preTask.status === "cancelling" || preTask.status === "cancelled") && taskRecordIsCurrent) {
      expectedId = taskRecordId;
    } else if (isTerminalTask(preTask.status) || preTask.status === "cancelling") {
      // Cancelled by a cascade, failFast or before a resume, or finished: not a repeat of any request for this task.
      check(
        !res.ok && res.code === "TASK_ALREADY_FINISHED",
        () =>
          `${what}: expected TASK_ALREADY_FINISHED, got ${res.ok ? `record ${res.value.value.record.id} (alreadyCancelled=${res.value.value.alreadyCancelled}${res.value.value.record.id === taskRecordId ? `, the task-cancel record of job attempt ${this.records.get(taskRecordId)?.jobAttempt}; the job is at attempt ${pre.attempt}` : ""})` : res.code}`,
      );
      check(!res.ok && res.code === "TASK_ALREADY_FINISHED", () => `${what}: expected TASK_ALREADY_FINISHED, got ${res.ok ? "success" : res.code}`);
      this.stats.refusals += 1;
      this.reach(`refusal ${res.ok ? "" : res.code}`);
      return;
    }
    check(res.ok, () => `${what}: refused with ${res.ok ? "" : res.code}`);
    const { value: outcome, job: post } = res.value;
    const postTask = taskOf(post, key);
    if (expectedId !== undefined) {
      this.expectRepeat(outcome, expectedId, op.force, what);
    } else {
      check(!outcome.alreadyCancelled, () => `${what}: alreadyCancelled on a first cancel`);
      this.acceptNew(jobId, outcome, id, pre.attempt, op.force);
      if (preTask.status === "pending") {
        check(postTask.status === "cancelled", () => `${what}: task is ${postTask.status}, expected cancelled`);
        check(outcome.record.status === "completed", () => `${what}: record ${outcome.record.status}, expected completed`);
      } else {
        check(postTask.status === "cancelling", () => `${what}: task is ${postTask.status}, expected cancelling`);
        check(outcome.record.status === "in_progress" && isDeepStrictEqual(outcome.toSignal, [key]), () => `${what}: toSignal ${outcome.toSignal.join(",")}`);
      }
    }
    if (op.repeat) {
      const again = this.newId();
      const rep = await attempt(() => this.store.mutateJob(jobId, this.now(), (d) => requestTaskCancel(d, again, key, req)));
      this.log(`  repeat → ${rep.ok ? `${rep.value.value.record.id} already=${rep.value.value.alreadyCancelled}` : rep.code}`);
      if (!rep.ok && isTerminalJob(post.status)) {
        // The first cancel finished the job (its last task): nothing is left to cancel.
        check(rep.code === "JOB_ALREADY_FINISHED", () => `repeat of ${what}: ${rep.code}`);
      } else {
        check(rep.ok, () => `repeat of an accepted task cancel refused: ${rep.ok ? "" : rep.code}`);
        this.expectRepeat(rep.value.value, outcome.record.id, op.force, `repeat of ${what}`);
      }
    }
  }

  async resume(jobIndex: number): Promise<void> {
    const jobId = pick(this.jobIds, jobIndex);
    if (jobId === undefined) return;
    const pre = this.before(jobId);
    const res = await attempt(() => this.store.mutateJob(jobId, this.now(), (d) => resumeJob(d, "test")));
    this.log(`resume ${jobId} (${pre.status}) → ${res.ok ? `${res.value.job.status} attempt ${res.value.job.attempt}` : res.code}`);
    if (!resumableJobStatuses.has(pre.status)) {
      check(!res.ok && res.code === "JOB_NOT_RESUMABLE", () => `resume of a ${pre.status} job: ${res.ok ? "accepted" : res.code}`);
      this.stats.refusals += 1;
      this.reach(`refusal ${res.ok ? "" : res.code}`);
      return;
    }
    check(res.ok, () => `resume of a ${pre.status} job refused: ${res.ok ? "" : res.code}`);
    const { job, events } = res.value;
    check(job.status === "queued" && job.attempt === pre.attempt + 1, () => `resume: job ${job.status} attempt ${job.attempt}`);
    check(
      events.some((e) => e.type === "belay.job.resumed" && e.data["attempt"] === job.attempt),
      () => "resume wrote no belay.job.resumed event",
    );
    this.resumedNow = jobId;
    this.stats.resumes += 1;
    this.reach(`resume ${pre.status}`);
  }

  /** Records the engine could finalize now: a job record once every work task is terminal, a task record once its runner exited. */
  private finalizable(pre: Job, records: CancellationRecord[]): CancellationRecord[] {
    return records.filter((r) => {
      // The engine runs the compensation tasks (the `compensate` step) before it finalizes.
      if (r.scope === "job") return pre.tasks.every((t) => isTerminalTask(t.status));
      return r.tasks.every((rep) => {
        const t = taskOf(pre, rep.key);
        return !(t.attempt === rep.attempt && active(t.status));
      });
    });
  }

  async finalize(jobIndex: number, recordIndex: number, cleanupFailed: boolean): Promise<boolean> {
    const jobId = pick(this.jobIds, jobIndex);
    if (jobId === undefined) return false;
    const pre = this.before(jobId);
    const open = (await this.store.listCancellations({ jobId, status: "in_progress" }, { limit: 1000, offset: 0 })).items;
    const record = pick(this.finalizable(pre, open), recordIndex);
    if (record === undefined) return false;
    const result = await this.store.mutateJob(jobId, this.now(), (d) => finalizeCancellation(d, record.id, { cleanupFailed }));
    const done = result.value;
    this.log(`finalize ${record.scope} record ${record.id} of ${jobId} (${pre.status}) cleanupFailed=${cleanupFailed} → ${done.status}, job ${result.job.status}`);
    check(done.status !== "in_progress", () => `finalize left record ${record.id} in progress`);
    if (record.scope === "job" && pre.status === "cancelling") {
      const stopped = done.tasks.some((r) => r.outcome !== "finished_first");
      if (stopped) {
        check(result.job.status === "cancelled", () => `finalize: job ${result.job.status}, expected cancelled`);
      } else {
        // too_late: every task finished before the cancel took effect; the job keeps its natural outcome.
        check(result.job.status !== "cancelled" && isTerminalJob(result.job.status), () => `finalize (too late): job ${result.job.status}`);
        check(done.status === (cleanupFailed ? "partial" : "too_late"), () => `finalize (too late): record ${done.status}`);
      }
    }
    this.stats.finalized += 1;
    this.reach(`finalize ${record.scope} ${done.status} (job ${result.job.status})`);
    return true;
  }

  // ---- the end: let everything finish, then nothing may be stuck -----------------------

  async drain(): Promise<void> {
    this.log("-- drain");
    for (let round = 0; round < 100; round += 1) {
      let moved = false;
      for (const runner of [...this.runners]) {
        this.resumedNow = null;
        const cancelling = taskOf(this.before(runner.jobId), runner.key).status === "cancelling";
        if (cancelling) runner.signalled = true;
        await this.recordExit(runner, {
          outcome: "succeeded",
          exitCode: 0,
          error: null,
          output: { runner: runner.serial },
          signalDelivered: cancelling,
          forced: false,
        });
        await this.checkAll();
        moved = true;
      }
      for (let j = 0; j < this.jobIds.length; j += 1) {
        this.resumedNow = null;
        if (await this.compensate(j)) {
          await this.checkAll();
          moved = true;
        }
        while (await this.finalize(j, 0, false)) {
          await this.checkAll();
          moved = true;
        }
      }
      this.resumedNow = null;
      if ((await this.claim(100)) > 0) moved = true;
      await this.checkAll();
      if (!moved) break;
    }
    for (const jobId of this.jobIds) {
      const job = this.before(jobId);
      check(isTerminalJob(job.status), () => `after draining, job ${jobId} is stuck in ${job.status}: ${JSON.stringify(job.tasks.map((t) => [t.key, t.status, t.ready]))}`);
    }
    const open = await this.store.openCancellations();
    check(open.length === 0, () => `after draining, records still in progress: ${open.map((r) => `${r.scope}:${r.id}`).join(", ")}`);
  }

  // ---- invariants ---------------------------------------------------------------------

  async checkAll(): Promise<void> {
    const blocked = new Set<string>();
    for (const jobId of this.jobIds) {
      const job = await this.store.getJob(jobId);
      check(job !== null, () => `job ${jobId} vanished`);
      const events = await this.store.jobEvents(jobId, 0, 1_000_000);
      const records = await this.store.listCancellations({ jobId }, { limit: 1000, offset: 0 });
      checkEventLog(job, events);
      this.checkAgainstBefore(job);
      this.checkRunners(job);
      this.checkRecords(job, records.items, records.total);
      this.checkProgress(job, events);
      this.checkOutputs(job);
      if (job.status === "cancelling" || job.status === "cancelled") {
        await this.probeClaims(job);
        blocked.add(jobId);
      }
      this.prev.set(jobId, job);
    }
    await this.probeClaimTasks(blocked);
  }

  /** Invariant 1 between two steps: a terminal status is left only by a resume, which starts attempt + 1. */
  private checkAgainstBefore(job: Job): void {
    const pre = this.prev.get(job.id);
    if (pre === undefined) return;
    check(job.attempt === pre.attempt || job.attempt === pre.attempt + 1, () => `job ${job.id}: attempt ${pre.attempt} → ${job.attempt}`);
    const resumed = job.attempt !== pre.attempt;
    check(!resumed || this.resumedNow === job.id, () => `job ${job.id}: attempt changed without a resume`);
    if (isTerminalJob(pre.status) && !resumed) {
      check(job.status === pre.status && job.finishedAt === pre.finishedAt, () => `invariant 1: job ${job.id} left ${pre.status} for ${job.status} without a resume`);
    }
    if (job.status === "cancelled") {
      // Invariant 3.
      const live = work(job).filter((t) => !isTerminalTask(t.status));
      check(live.length === 0, () => `invariant 3: job ${job.id} is cancelled while ${live.map((t) => `${t.key}=${t.status}`).join(", ")}`);
    }
    if (isTerminalJob(job.status)) {
      // Compensation tasks too: skipped when the job was not cancelled, run (or skipped) before a cancellation finalizes.
      const unfinished = job.tasks.filter((t) => !isTerminalTask(t.status));
      check(unfinished.length === 0, () => `job ${job.id} is ${job.status} with unfinished tasks ${unfinished.map((t) => `${t.key}=${t.status}`).join(", ")}`);
    }
    for (const t of job.tasks) {
      const p = taskOf(pre, t.key);
      check(t.attempt >= p.attempt, () => `task ${job.id}/${t.key}: attempt ${p.attempt} → ${t.attempt}`);
      if (isTerminalTask(p.status) && !resumed) {
        check(t.status === p.status && t.attempt === p.attempt, () => `invariant 1: task ${job.id}/${t.key} left ${p.status} for ${t.status} without a resume`);
      }
      if (resumed && p.status === "succeeded" && t.runOn === "normal") {
        check(t.status === "succeeded" && isDeepStrictEqual(t.output, p.output), () => `resume rewrote succeeded task ${job.id}/${t.key} (${t.status})`);
      }
    }
  }

  /** Every live runner is a running/cancelling task of that attempt and vice versa: a job's runners have all exited when its tasks are terminal. */
  private checkRunners(job: Job): void {
    const live = this.runners
      .filter((r) => r.jobId === job.id)
      .map((r) => `${r.key}#${r.attempt}`)
      .sort();
    const activeTasks = job.tasks
      .filter((t) => active(t.status))
      .map((t) => `${t.key}#${t.attempt}`)
      .sort();
    check(isDeepStrictEqual(live, activeTasks), () => `job ${job.id}: live runners [${live.join(", ")}] but active tasks [${activeTasks.join(", ")}]`);
  }

  /** Invariant 5: exactly the accepted cancels have records, one each; a cancelling job has its open record. */
  private checkRecords(job: Job, records: CancellationRecord[], total: number): void {
    const expected = [...this.records.entries()]
      .filter(([, info]) => info.jobId === job.id)
      .map(([id]) => id)
      .sort();
    const actual = records.map((r) => r.id).sort();
    check(total === expected.length && isDeepStrictEqual(actual, expected), () => `invariant 5: job ${job.id} has records [${actual.join(", ")}] (total ${total}), accepted [${expected.join(", ")}]`);
    const openJobRecords = records.filter((r) => r.scope === "job" && r.status === "in_progress");
    check(openJobRecords.length <= 1, () => `job ${job.id} has ${openJobRecords.length} open job records`);
    check(
      (job.status === "cancelling") === (openJobRecords.length === 1),
      () => `job ${job.id} is ${job.status} with ${openJobRecords.length} open job-scope record(s)`,
    );
    const summary = job.cancellation;
    const latest = this.latestRecord.get(job.id);
    check((summary?.id ?? undefined) === latest, () => `job ${job.id} shows cancellation ${summary?.id}, the latest accepted is ${latest}`);
    for (const r of records) {
      check(r.status === "in_progress" || r.completedAt !== null, () => `record ${r.id} is ${r.status} without completedAt`);
      if (summary !== null && r.id === summary.id) {
        check(summary.status === r.status, () => `job ${job.id} shows cancellation ${r.id} as ${summary.status}, the record is ${r.status}`);
      }
      const finished = this.finishedRecords.get(r.id);
      const now = `${r.status}@${r.completedAt}`;
      if (finished !== undefined) {
        check(finished === now, () => `record ${r.id} finished as ${finished}, is now ${now}`);
      } else if (r.status !== "in_progress") {
        this.finishedRecords.set(r.id, now);
      }
      const final = r.steps.find((s) => s.name === "finalize");
      check((r.status === "in_progress") === (final?.status === "pending"), () => `record ${r.id} is ${r.status} with its finalize step ${final?.status}`);
    }
  }

  /** Invariant 6: every accepted progress update is in the event log, in order, and nothing else is. */
  private checkProgress(job: Job, events: BelayEvent[]): void {
    const logged = events
      .filter((e) => e.type === "belay.task.progress")
      .map((e): ProgressSent => ({ key: String(e.data["taskKey"]), attempt: Number(e.data["attempt"]), ratio: Number(e.data["ratio"]) }));
    const sent = this.progress.get(job.id) ?? [];
    check(isDeepStrictEqual(logged, sent), () => `invariant 6: job ${job.id} accepted progress ${JSON.stringify(sent)}, logged ${JSON.stringify(logged)}`);
  }

  /** Invariant 6 for outputs: a task keeps the output of its last recorded attempt until it is claimed again. */
  private checkOutputs(job: Job): void {
    for (const t of job.tasks) {
      const expected = active(t.status) ? null : (this.outputs.get(`${job.id}/${t.key}`) ?? null);
      check(isDeepStrictEqual(t.output, expected), () => `task ${job.id}/${t.key} (${t.status}) has output ${JSON.stringify(t.output)}, expected ${JSON.stringify(expected)}`);
    }
  }

  /** Invariants 2 and 4: once a job cancel is accepted, no task of the job can be claimed. */
  private async probeClaims(job: Job): Promise<void> {
    try {
      await this.store.mutateJob(job.id, new Date(baseMs + this.tick).toISOString(), (d) => {
        for (const t of d.workTasks) {
          if (claimTask(d, t.key, "probe") !== null) throw new ProbeClaimed(t.key);
        }
      });
    } catch (error) {
      if (error instanceof ProbeClaimed) {
        throw new InvariantViolation(`invariant 2/4: task ${job.id}/${error.message} of a ${job.status} job could be claimed`);
      }
      throw error;
    }
  }

  /** The same through the store's own selection, for every blocked job at once; claims nothing of the others. */
  private async probeClaimTasks(blocked: ReadonlySet<string>): Promise<void> {
    if (blocked.size === 0) return;
    try {
      await this.store.claimTasks({ nodeId: "probe", max: 1000, pools: {}, now: new Date(baseMs + this.tick).toISOString() }, (d, key) => {
        if (blocked.has(d.job.id) && claimTask(d, key, "probe") !== null) throw new ProbeClaimed(`${d.job.id}/${key}`);
        return null;
      });
    } catch (error) {
      if (error instanceof ProbeClaimed) throw new InvariantViolation(`invariant 2/4: claimTasks took ${error.message} after its job cancel was accepted`);
      throw error;
    }
  }
}

/**
 * The event log, replayed: every job status change is a legal transition continuing the
 * previous one (invariant 1, and "every status write is legal"); per job attempt, the job
 * and each task reach at most one terminal status; nothing starts after a cancel was
 * accepted (invariant 2); and the log ends where the job is — when `job` and `events` were
 * read as one snapshot (`snapshot: false` when the engine may have moved on between them:
 * then the log must only be a legal prefix).
 */
export function checkEventLog(job: Job, events: BelayEvent[], options: { snapshot: boolean } = { snapshot: true }): void {
  const where = (e: BelayEvent): string => `job ${job.id} event #${e.seq} ${e.type} ${JSON.stringify(e.data)}`;
  let status: JobStatus = "queued";
  let attempt = 1;
  let jobTerminals = 0;
  let cancelAccepted = false;
  let taskTerminals = new Map<string, number>();
  const lastTerminal = new Map<string, TaskStatus>();
  for (const e of events) {
    const from = e.data["from"];
    const to = e.data["status"];
    if (e.type === "belay.job.resumed") {
      check(from === status && resumableJobStatuses.has(status) && to === "queued", () => `resume from ${status}: ${where(e)}`);
      attempt += 1;
      check(e.data["attempt"] === attempt, () => `resume numbered ${String(e.data["attempt"])}, expected ${attempt}: ${where(e)}`);
      status = "queued";
      jobTerminals = 0;
      cancelAccepted = false;
      taskTerminals = new Map();
    } else if (jobStatusEvents.has(e.type)) {
      check(from === status, () => `invariant 1: job event from ${String(from)} while the job was ${status}: ${where(e)}`);
      check(canTransitionJob(status, to as JobStatus), () => `illegal job transition ${status} → ${String(to)}: ${where(e)}`);
      status = to as JobStatus;
      if (isTerminalJob(status)) {
        jobTerminals += 1;
        check(jobTerminals === 1, () => `invariant 1: job reached a second terminal status in attempt ${attempt}: ${where(e)}`);
      }
      if (e.type === "belay.job.cancel_requested") cancelAccepted = true;
    } else if (taskStatusEvents.has(e.type)) {
      if (e.type === "belay.task.failed" && e.data["retrying"] === true) continue;
      const key = String(e.data["taskKey"]);
      check(canTransitionTask(from as TaskStatus, to as TaskStatus), () => `illegal task transition: ${where(e)}`);
      if (e.type === "belay.task.started") {
        if (e.data["compensation"] === true) {
          // Compensation runs only as part of an accepted job cancellation.
          check(cancelAccepted && status === "cancelling", () => `a compensation task started outside a job cancellation: ${where(e)}`);
        } else {
          check(!cancelAccepted, () => `invariant 2: a task started after the job cancel was accepted: ${where(e)}`);
        }
      }
      if (isTerminalTask(to as TaskStatus)) {
        const n = (taskTerminals.get(key) ?? 0) + 1;
        taskTerminals.set(key, n);
        check(n === 1, () => `invariant 1: task ${key} reached a second terminal status in job attempt ${attempt}: ${where(e)}`);
        lastTerminal.set(key, to as TaskStatus);
      }
    }
  }
  if (!options.snapshot) return;
  check(status === job.status, () => `the event log of job ${job.id} ends at ${status}, the job is ${job.status}`);
  check(attempt === job.attempt, () => `job ${job.id} is at attempt ${job.attempt}, its log has ${attempt}`);
  check(!isTerminalJob(job.status) || jobTerminals === 1, () => `job ${job.id} is ${job.status} without its terminal event in this attempt`);
  for (const t of job.tasks) {
    if (isTerminalTask(t.status)) {
      check(lastTerminal.get(t.key) === t.status, () => `task ${job.id}/${t.key} is ${t.status}, its last terminal event says ${lastTerminal.get(t.key)}`);
    } else {
      check(!taskTerminals.has(t.key), () => `invariant 1: task ${job.id}/${t.key} left its terminal status (now ${t.status}) within job attempt ${attempt}`);
    }
  }
}
