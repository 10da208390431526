/**
 * Making jobs (DESIGN §4, §7): a spec parsed (templates expanded), checked (the policy for the
 * submitting principal, secret names, runnable here, the depth of a child) and inserted
 * through the job writer. One part, built by `openBelay` before the parts that submit: `Belay`
 * (`submit`, `submitJobs`), a task's child jobs (`child-jobs.ts`) and the schedules' firings
 * (`Schedules`) all call it, and none of them calls back into `Belay`.
 */
import { assertChildDepth } from "../core/children.ts";
import type { JobDraft } from "../core/draft.ts";
import { BelayError, isBelayError } from "../core/errors.ts";
import { newJob } from "../core/lifecycle.ts";
import type { Job, JobSpec } from "../core/model.ts";
import { authorizeSubmit, roles } from "../core/policy.ts";
import type { Policy, Role } from "../core/policy.ts";
import { settle } from "../core/settle.ts";
import { parseJobSpec } from "../core/spec.ts";
import type { TemplateSet } from "../core/templates.ts";
import type { Store } from "../store/store.ts";
import { crashPoint } from "./crash-points.ts";
import { newId } from "./ids.ts";
import type { JobWriter } from "./job-writer.ts";
import { validateRunnable } from "./runnable.ts";
import type { NodeRunners } from "./runnable.ts";
import type { ChildOf, SubmitOptions } from "./types.ts";

/** The most specs one `submitJobs` takes. */
export const maxBatchJobs = 10_000;

/** What a new job's draft records: its creation, and the tasks ready from the start. */
function created(d: JobDraft, job: Job): void {
  d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
  settle(d);
}

export interface SubmissionsDeps {
  writer: JobWriter;
  store: Pick<Store, "getJob" | "shared">;
  /** Who may submit what (DESIGN §6), for a submit on behalf of a principal. */
  policy: Policy;
  /** The server's task templates. */
  templates: TemplateSet;
  /** Whether a secret of this name can be resolved here. */
  hasSecret: (name: string) => boolean;
  runners: NodeRunners;
  pools: Record<string, number>;
  /** The deepest a tree of child jobs may grow (a root is depth 0). */
  maxChildDepth: number;
  now: () => string;
  /** Ask the scheduler for a claim round (a new job has ready tasks). */
  wake: () => void;
}

export class Submissions {
  private readonly deps: SubmissionsDeps;
  private closed = false;

  constructor(deps: SubmissionsDeps) {
    this.deps = deps;
  }

  /** The engine is closing: every later submit is refused. */
  close(): void {
    this.closed = true;
  }

  /** `submitJob`, also telling whether the job was created or found by its idempotency key. */
  async submit(input: unknown, options: SubmitOptions = {}): Promise<{ job: Job; created: boolean }> {
    this.assertOpen();
    const job = await this.prepareJob(input, options, this.deps.now());
    const result = await this.deps.writer.insert(job, (d) => created(d, job));
    crashPoint("submit");
    this.deps.writer.publish(result.events);
    if (result.created) this.deps.wake();
    return { job: result.job, created: result.created };
  }

  /**
   * One spec made into a new job, for `submit` and `submitJobs` alike: parsed (templates
   * expanded), checked against the policy for the submitting principal (DESIGN §6), its
   * secret names known here, runnable on this cluster.
   */
  async prepareJob(input: unknown, options: SubmitOptions, now: string, parent: Job | null = null, parentTaskKey: string | null = null): Promise<Job> {
    return this.prepareSpec(parseJobSpec(input, { templates: this.deps.templates }), options, now, parent, parentTaskKey);
  }

  /** `prepareJob` of a spec already parsed (a `job` task's child, parsed with its parent). */
  private async prepareSpec(spec: JobSpec, options: SubmitOptions, now: string, parent: Job | null, parentTaskKey: string | null): Promise<Job> {
    if (options.principal !== undefined) authorizeSubmit(this.deps.policy, options.principal, spec);
    if (parent !== null) assertChildDepth(parent.id, parent.depth, this.deps.maxChildDepth);
    spec.tasks.forEach((task, i) => {
      for (const [name, value] of Object.entries(task.process?.env ?? {})) {
        if (typeof value !== "string" && !this.deps.hasSecret(value.secret)) {
          throw new BelayError("INVALID_REQUEST", `tasks[${i}].env.${name}: unknown secret "${value.secret}" (define it with --secrets-file or BELAY_SECRET_${value.secret})`, {
            details: { field: `tasks[${i}].env.${name}`, secret: value.secret },
          });
        }
      }
    });
    await validateRunnable(spec, this.deps.runners, this.deps.pools, this.deps.store.shared);
    return newJob(spec, {
      id: newId(),
      owner: options.owner ?? options.principal?.name ?? "library",
      now,
      scheduleId: options.scheduleId ?? null,
      parent: parent === null ? null : { jobId: parent.id, taskKey: parentTaskKey, depth: parent.depth },
      submitterRole: parent === null ? (options.principal?.role ?? null) : parent.submitterRole,
    });
  }

  /**
   * Submit a child job under `parent` (DESIGN §7): a handler's `ctx.submitChild(spec)` and a
   * task of kind `job` come here. The child is owned by the parent's owner and checked
   * against the policy as the principal that submitted the tree's root (a `user`'s handler
   * cannot start a free-command process task). Refused with `JOB_CANCELLING` once a cancel
   * of the tree was accepted (decided in the store's insert transaction), and with
   * `INVALID_REQUEST` beyond the depth limit. An `idempotencyKey` here wins over the spec's.
   */
  async submitChild(parent: ChildOf, input: unknown, options: { idempotencyKey?: string; parsed?: JobSpec } = {}): Promise<{ job: Job; created: boolean }> {
    this.assertOpen();
    const parentJob = await this.deps.store.getJob(parent.jobId);
    if (parentJob === null) throw new BelayError("JOB_NOT_FOUND", `job ${parent.jobId} not found`, { details: { jobId: parent.jobId } });
    const role = parentJob.submitterRole;
    const principal = role !== null && (roles as readonly string[]).includes(role) ? { name: parentJob.owner, role: role as Role } : undefined;
    const submitOptions: SubmitOptions = { owner: parentJob.owner, ...(principal === undefined ? {} : { principal }) };
    const key = options.idempotencyKey;
    const job = options.parsed !== undefined
      ? await this.prepareSpec({ ...options.parsed, ...(key === undefined ? {} : { idempotencyKey: key }) }, submitOptions, this.deps.now(), parentJob, parent.taskKey)
      : await this.prepareJob(key === undefined || typeof input !== "object" || input === null ? input : { ...input, idempotencyKey: key }, submitOptions, this.deps.now(), parentJob, parent.taskKey);
    const result = await this.deps.writer.insert(job, (d) => created(d, job));
    this.deps.writer.publish(result.events);
    if (result.created) this.deps.wake();
    return { job: result.job, created: result.created };
  }

  /**
   * Submit many job specs at once (bulk submit): all or none, at most 10,000. A spec that is
   * not valid refuses the whole batch with INVALID_REQUEST naming its index (`details.index`);
   * nothing is stored. Idempotency keys are honoured as by `submit`, also between specs of
   * the batch (the later one gets the earlier one's job). Results are in the specs' order.
   */
  async submitJobs(inputs: unknown, options: SubmitOptions = {}): Promise<Array<{ job: Job; created: boolean }>> {
    this.assertOpen();
    if (!Array.isArray(inputs)) throw new BelayError("INVALID_REQUEST", "jobs must be an array of job specs", { details: { field: "jobs" } });
    if (inputs.length === 0 || inputs.length > maxBatchJobs) {
      throw new BelayError("INVALID_REQUEST", `jobs must hold from 1 to ${maxBatchJobs} job specs (got ${inputs.length})`, { details: { field: "jobs" } });
    }
    const now = this.deps.now();
    const items: Array<{ job: Job; build: (d: JobDraft) => void }> = [];
    for (const [index, input] of inputs.entries()) {
      try {
        const job = await this.prepareJob(input, options, now);
        items.push({ job, build: (d) => created(d, job) });
      } catch (error) {
        if (!isBelayError(error)) throw error;
        throw new BelayError(error.code, `jobs[${index}]: ${error.message}`, { details: { ...error.details, index } });
      }
    }
    const results = await this.deps.writer.insertMany(items);
    crashPoint("submit");
    this.deps.writer.publish(results.flatMap((r) => r.events));
    if (results.some((r) => r.created)) this.deps.wake();
    return results.map((r) => ({ job: r.job, created: r.created }));
  }

  private assertOpen(): void {
    if (this.closed) throw new BelayError("INTERNAL", "the engine is closed");
  }
}
