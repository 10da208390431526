/**
 * The one writer of jobs on this node: every change of a job is one store transaction, and
 * its events are published on this node's bus right after the commit (DESIGN invariant: a
 * change and its event are never written apart). Every part that changes a job — the
 * scheduler's claims, runs, the cancel executor and agent, recovery, the cancel requests —
 * is handed this object; none writes through the store directly.
 */
import type { JobDraft } from "../core/draft.ts";
import type { BelayEvent, Job } from "../core/model.ts";
import type { BulkMutationOptions, BulkResult, ClaimedTask, ClaimOptions, Mutator, Store } from "../store/store.ts";
import type { EventBus } from "./event-bus.ts";

export class JobWriter {
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly now: () => string;

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
