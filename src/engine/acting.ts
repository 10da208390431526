/**
 * `belay.as(principal)`: the engine's calls, each checked against the policy for one
 * principal (DESIGN §6). The routes of the HTTP API (and so the MCP tools) call this, and a
 * program embedding Belay for its own users can too. The decisions are `core/policy.ts`'s;
 * this only asks them at the right moment, with the job's owner where it matters.
 */
import { authorize, visibleJob } from "../core/policy.ts";
import type { Principal } from "../core/policy.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine } from "../core/model.ts";
import type { BulkCancelOptions, CancelJobOptions, CancelTaskOptions } from "../core/requests.ts";
import type { CancellationFilter, JobFilter, JobPage } from "../store/store.ts";
import type { Schedule } from "../core/schedules.ts";
import type { JobTree, JobTreeNode } from "./job-tree.ts";
import type { BulkCancelResult, CancelPreviewResult, CancelResult, PoolView, PrincipalCalls, QueueView } from "./types.ts";

export class ActingBelay {
  readonly principal: Principal;
  readonly #engine: PrincipalCalls;

  constructor(engine: PrincipalCalls, principal: Principal) {
    this.#engine = engine;
    this.principal = principal;
  }

  async submit(input: unknown): Promise<{ job: Job; created: boolean }> {
    return this.#engine.submit(input, { owner: this.principal.name, principal: this.principal });
  }

  /** Bulk submit, each spec checked against the policy as `submit` checks one. */
  async submitJobs(inputs: unknown): Promise<Array<{ job: Job; created: boolean }>> {
    return this.#engine.submitJobs(inputs, { owner: this.principal.name, principal: this.principal });
  }

  async submitJob(input: unknown): Promise<Job> {
    return (await this.submit(input)).job;
  }

  async getJob(id: string): Promise<Job> {
    authorize(this.#engine.policy, this.principal, "job.read");
    return this.#visible(await this.#engine.getJob(id));
  }

  /** A job and its descendants (DESIGN §7), each job as this principal may see it. */
  async getJobTree(id: string): Promise<JobTree> {
    authorize(this.#engine.policy, this.principal, "job.read");
    const tree = await this.#engine.getJobTree(id);
    const visible = (node: JobTreeNode): JobTreeNode => ({ job: this.#visible(node.job), children: node.children.map(visible) });
    return { ...tree, root: visible(tree.root) };
  }

  /** The pools and the tasks holding their slots: the holders name jobs, so it is job.read. */
  async listPools(): Promise<PoolView[]> {
    authorize(this.#engine.policy, this.principal, "job.read");
    return this.#engine.listPools();
  }

  async listJobs(filter: JobFilter = {}, page: { limit?: number; cursor?: string | null } = {}): Promise<JobPage> {
    authorize(this.#engine.policy, this.principal, "job.read");
    const result = await this.#engine.listJobs(filter, page);
    return { ...result, items: result.items.map((job) => this.#visible(job)) };
  }

  async getJobEvents(jobId: string, options: { after?: number; limit?: number } = {}): Promise<BelayEvent[]> {
    authorize(this.#engine.policy, this.principal, "job.read");
    return this.#engine.getJobEvents(jobId, options);
  }

  async getLogs(jobId: string, options: { taskKey?: string; tail?: number; afterSeq?: number; limit?: number } = {}): Promise<LogLine[]> {
    authorize(this.#engine.policy, this.principal, "job.logs");
    return this.#engine.getLogs(jobId, options);
  }

  /** A dry run (`dryRun: true`) needs the same role and ownership as the cancel itself. */
  cancelJob(jobId: string, options: CancelJobOptions & { dryRun: true }): Promise<CancelPreviewResult>;
  cancelJob(jobId: string, options?: CancelJobOptions & { dryRun?: false | undefined }): Promise<CancelResult>;
  cancelJob(jobId: string, options?: CancelJobOptions): Promise<CancelResult | CancelPreviewResult>;
  async cancelJob(jobId: string, options: CancelJobOptions = {}): Promise<CancelResult | CancelPreviewResult> {
    await this.#authorizeOn(jobId, "job.cancel");
    const result = await this.#engine.cancelJob(jobId, { ...options, requestedBy: this.principal.name });
    return { ...result, job: this.#visible(result.job) };
  }

  cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions & { dryRun: true }): Promise<CancelPreviewResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions & { dryRun?: false | undefined }): Promise<CancelResult>;
  cancelTask(jobId: string, taskKey: string, options?: CancelTaskOptions): Promise<CancelResult | CancelPreviewResult>;
  async cancelTask(jobId: string, taskKey: string, options: CancelTaskOptions = {}): Promise<CancelResult | CancelPreviewResult> {
    await this.#authorizeOn(jobId, "job.cancel");
    const result = await this.#engine.cancelTask(jobId, taskKey, { ...options, requestedBy: this.principal.name });
    return { ...result, job: this.#visible(result.job) };
  }

  async cancelJobs(options: BulkCancelOptions): Promise<BulkCancelResult> {
    authorize(this.#engine.policy, this.principal, "job.cancel.bulk");
    // A quiesce pauses queues and other principals' schedules: it needs what doing so needs.
    // The body may be absent (the library then says a filter is needed): read it loosely here.
    if ((options as BulkCancelOptions | null | undefined)?.quiesce === true) {
      authorize(this.#engine.policy, this.principal, "queue.pause");
      authorize(this.#engine.policy, this.principal, "schedule.manage.any");
    }
    return this.#engine.cancelJobs({ ...options, requestedBy: this.principal.name });
  }

  /**
   * Create a schedule owned by the principal. Both the schedule.create rule and the submit
   * rules for each task of its spec apply (a schedule with a free-command process task needs
   * the role submitting one needs): a schedule is never a way round the submit policy.
   */
  async createSchedule(input: unknown): Promise<Schedule> {
    authorize(this.#engine.policy, this.principal, "schedule.create");
    return this.#engine.createSchedule(input, { owner: this.principal.name, principal: this.principal });
  }

  async listSchedules(): Promise<Schedule[]> {
    authorize(this.#engine.policy, this.principal, "schedule.read");
    return this.#engine.listSchedules();
  }

  /** By id, or by name among the principal's own schedules. */
  async getSchedule(idOrName: string): Promise<Schedule> {
    authorize(this.#engine.policy, this.principal, "schedule.read");
    return this.#engine.getSchedule(idOrName, { owner: this.principal.name });
  }

  async pauseSchedule(idOrName: string): Promise<Schedule> {
    const s = await this.#authorizeSchedule(idOrName);
    return this.#engine.pauseSchedule(s.id, { by: this.principal.name });
  }

  async resumeSchedule(idOrName: string): Promise<Schedule> {
    const s = await this.#authorizeSchedule(idOrName);
    return this.#engine.resumeSchedule(s.id);
  }

  async deleteSchedule(idOrName: string): Promise<Schedule> {
    const s = await this.#authorizeSchedule(idOrName);
    return this.#engine.deleteSchedule(s.id);
  }

  async listQueues(): Promise<QueueView[]> {
    authorize(this.#engine.policy, this.principal, "queue.read");
    return this.#engine.listQueues();
  }

  async pauseQueue(name: string, options: { reason?: string | null } = {}): Promise<QueueView> {
    authorize(this.#engine.policy, this.principal, "queue.pause");
    return this.#engine.pauseQueue(name, { by: this.principal.name, reason: options.reason ?? null });
  }

  async resumeQueue(name: string): Promise<QueueView> {
    authorize(this.#engine.policy, this.principal, "queue.pause");
    return this.#engine.resumeQueue(name);
  }

  async #authorizeSchedule(idOrName: string): Promise<Schedule> {
    const s = await this.#engine.getSchedule(idOrName, { owner: this.principal.name });
    authorize(this.#engine.policy, this.principal, "schedule.manage", s.owner);
    return s;
  }

  async resumeJob(id: string): Promise<Job> {
    await this.#authorizeOn(id, "job.resume");
    return this.#visible(await this.#engine.resumeJob(id, { requestedBy: this.principal.name }));
  }

  async getCancellation(id: string): Promise<CancellationRecord> {
    authorize(this.#engine.policy, this.principal, "job.read");
    return this.#engine.getCancellation(id);
  }

  async listCancellations(filter: CancellationFilter = {}, page: { limit?: number; offset?: number } = {}): Promise<{ items: CancellationRecord[]; total: number }> {
    authorize(this.#engine.policy, this.principal, "job.read");
    return this.#engine.listCancellations(filter, page);
  }

  /** Decided on the job's owner; an unknown job answers JOB_NOT_FOUND, as without a policy. */
  async #authorizeOn(jobId: string, action: "job.cancel" | "job.resume"): Promise<void> {
    const job = await this.#engine.getJob(jobId);
    authorize(this.#engine.policy, this.principal, action, job.owner);
  }

  #visible(job: Job): Job {
    return visibleJob(this.#engine.policy, this.principal, job);
  }
}
