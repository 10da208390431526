/**
 * The one writer of jobs on this node: every change of a job is one store transaction, and
 * its events are published on this node's bus right after the commit (DESIGN invariant: a
 * change and its event are never written apart). Every part that changes a job — the
 * scheduler's claims, runs, the cancel executor and agent, recovery, the cancel requests —
 * is handed this object; none writes through the store directly.
 */
import type { JobDraft } from "../core/draft.ts";
import type { BelayEvent, Job } from "../core/model.ts";
import { isLockNotGranted } from "../store/store.ts";
import type { BulkMutationOptions, BulkResult, ClaimedTask, ClaimOptions, Mutator, Store } from "../store/store.ts";
import type { EventBus } from "./event-bus.ts";

/**
 * How long the group commit waits for one batch before it lets the next one go (the slow one
 * goes on alone) and, on PostgreSQL, how long a batch waits for its job rows' locks. A job
 * whose row another transaction holds (a long transaction, a lock held across a slow
 * statement) must delay only its own writes, never every other run's on the node.
 */
const groupWaitMs = 200;

interface GroupedWrite {
  jobId: string;
  mutator: Mutator<unknown>;
  resolve: (result: { value: unknown; job: Job }) => void;
  reject: (error: unknown) => void;
}

export class JobWriter {
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly now: () => string;
  /** Writes of runs waiting for the group commit in flight (`mutateGrouped`). */
  private grouped: GroupedWrite[] = [];
  private groupCommit: Promise<void> | null = null;

  constructor(deps: { store: Store; bus: EventBus; now: () => string }) {
    this.store = deps.store;
    this.bus = deps.bus;
    this.now = deps.now;
  }

  /** Apply a pure change to a job and publish its events. */
  readonly mutate = async <T>(jobId: string, mutator: Mutator<T>): Promise<{ value: T; job: Job }> => {
    const result = await this.store.mutateJob(jobId, this.now(), mutator);
    this.bus.emit(result.events);
    return { value: result.value, job: result.job };
  };

  /**
   * `mutate` with group commit, for the writes of runs (progress, checkpoints, attempt ends):
   * the first write goes at once; those that arrive while it is in flight are written
   * together, in one transaction (`Store.mutateJobs`), when it has committed, and so on. Each
   * caller's promise settles when its own write has committed (or was refused: only that
   * write is then lost, as with `mutate`); a database error fails the whole batch, and each
   * caller retries as it would have. A job has at most one write per batch (a mutator that
   * throws leaves its draft half-changed, which must not be the next draft's start); the
   * times written are the batch's. A batch that waits on a row lock holds back no other
   * job's writes for longer than `groupWaitMs` (see `commitGroup`).
   */
  mutateGrouped<T>(jobId: string, mutator: Mutator<T>): Promise<{ value: T; job: Job }> {
    return new Promise<{ value: T; job: Job }>((resolve, reject) => {
      this.grouped.push({ jobId, mutator, resolve: resolve as GroupedWrite["resolve"], reject });
      this.groupCommit ??= this.commitGroups();
    });
  }

  private async commitGroups(): Promise<void> {
    try {
      while (this.grouped.length > 0) {
        const batch: GroupedWrite[] = [];
        const later: GroupedWrite[] = [];
        const jobs = new Set<string>();
        for (const write of this.grouped) {
          if (jobs.has(write.jobId)) later.push(write);
          else {
            jobs.add(write.jobId);
            batch.push(write);
          }
        }
        this.grouped = later;
        await this.commitGroup(batch);
      }
    } finally {
      this.groupCommit = null;
    }
  }

  /**
   * Write one batch. The loop waits for it at most `groupWaitMs`: a batch still waiting
   * then (for a row lock) goes on in the background and settles its callers when it ends.
   */
  private async commitGroup(batch: GroupedWrite[]): Promise<void> {
    const written = this.writeGroup(batch);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([written, new Promise<void>((resolve) => (timer = setTimeout(resolve, groupWaitMs)))]);
    clearTimeout(timer);
  }

  private async writeGroup(batch: GroupedWrite[]): Promise<void> {
    const [only] = batch;
    if (batch.length === 1 && only !== undefined) {
      // Nothing to group with: the single-job transaction is the cheaper one.
      await this.writeAlone(only);
      return;
    }
    const byJob = new Map(batch.map((w) => [w.jobId, w]));
    let results: Array<BulkResult<unknown>>;
    try {
      results = await this.store.mutateJobs(
        batch.map((w) => w.jobId),
        this.now(),
        (d) => {
          const write = byJob.get(d.job.id);
          if (write === undefined) throw new Error(`no grouped write for job ${d.job.id}`);
          return write.mutator(d);
        },
        { lockWaitMs: groupWaitMs },
      );
    } catch (error) {
      // A job row held elsewhere: nothing was written; each write goes alone, so only the
      // held job's waits for its lock.
      if (isLockNotGranted(error)) await Promise.all(batch.map((w) => this.writeAlone(w)));
      else for (const write of batch) write.reject(error);
      return;
    }
    batch.forEach((write, i) => {
      const result = results[i];
      if (result === undefined) write.reject(new Error(`no result for job ${write.jobId}`));
      else if ("error" in result) write.reject(result.error);
      else {
        this.bus.emit(result.events);
        write.resolve({ value: result.value, job: result.job });
      }
    });
  }

  private async writeAlone(write: GroupedWrite): Promise<void> {
    try {
      write.resolve(await this.mutate(write.jobId, write.mutator));
    } catch (error) {
      write.reject(error);
    }
  }

  /**
   * `mutate` for many jobs (bulk cancel); a job whose change threw gives its error, the others
   * commit. Each chunk's events are published as soon as it has committed, before the
   * caller's `afterChunk`.
   */
  async mutateMany<T>(jobIds: string[], mutator: Mutator<T>, options: BulkMutationOptions<T> = {}): Promise<Array<BulkResult<T>>> {
    return this.store.mutateJobs(jobIds, this.now(), mutator, {
      ...options,
      afterChunk: (chunk) => {
        for (const result of chunk) if (!("error" in result)) this.bus.emit(result.events);
        options.afterChunk?.(chunk);
      },
    });
  }

  /**
   * Insert a new job. The events are returned, not published: the caller publishes them once
   * the job is durable past its crash point (`publish`).
   */
  insert(job: Job, build: (draft: JobDraft) => void): Promise<{ job: Job; created: boolean; events: BelayEvent[] }> {
    return this.store.insertJob(build, job);
  }

  /** Insert many new jobs in one transaction, all or none (`Store.insertJobs`); events returned as by `insert`. */
  insertMany(items: Array<{ job: Job; build: (draft: JobDraft) => void }>): Promise<Array<{ job: Job; created: boolean; events: BelayEvent[] }>> {
    return this.store.insertJobs(items);
  }

  /** Claim ready tasks (`Store.claimTasks`). The caller publishes each claim's events as it starts its run. */
  claim<T>(options: Omit<ClaimOptions, "now">, claim: (draft: JobDraft, taskKey: string) => T | null): Promise<Array<ClaimedTask<T>>> {
    return this.store.claimTasks({ ...options, now: this.now() }, claim);
  }

  publish(events: readonly BelayEvent[]): void {
    this.bus.emit(events);
  }
}
