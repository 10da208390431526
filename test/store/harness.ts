/**
 * Drives a Store the way the engine does — jobs built by `newJob` + `parseJobSpec` + `settle`,
 * changes made by the pure functions of src/core — and checks every write on the way: after
 * each mutation or claim, the stored job equals the job the store returned, and the stored
 * events are exactly the numbered events it returned.
 */
import { expect } from "vitest";
import { requestJobCancel, requestTaskCancel } from "../../src/core/cancellation.ts";
import type { CancelOutcome, CancelRequest, TaskCancelRequest } from "../../src/core/cancellation.ts";
import type { JobDraft } from "../../src/core/draft.ts";
import { claimTask, endAttempt, newJob } from "../../src/core/lifecycle.ts";
import { settle } from "../../src/core/settle.ts";
import type { AttemptEnd, AttemptEndResult, ClaimResult } from "../../src/core/lifecycle.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { newId } from "../../src/engine/ids.ts";
import type { ClaimedTask, MutationResult, Mutator, Store } from "../../src/store/store.ts";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function cancelJob(req: Partial<CancelRequest> = {}): Mutator<CancelOutcome> {
  return (d) =>
    requestJobCancel(d, newId(), { reason: null, requestedBy: "tester", force: false, graceMs: null, onlyIfPending: false, parentId: null, ...req });
}

export function cancelTask(key: string, req: Partial<TaskCancelRequest> = {}): Mutator<CancelOutcome> {
  return (d) => requestTaskCancel(d, newId(), key, { reason: null, requestedBy: "tester", force: false, graceMs: null, cascade: null, ...req });
}

/** The end of an attempt as a runner reports it; by default a success that no signal reached. */
export function ended(key: string, attempt: number, end: Partial<AttemptEnd> = {}): Mutator<AttemptEndResult> {
  return (d) =>
    endAttempt(d, key, attempt, { outcome: "succeeded", exitCode: 0, error: null, output: null, signalDelivered: false, forced: false, ...end });
}

export interface ClaimOptionsInput {
  nodeId?: string;
  max?: number;
  pools?: Record<string, number>;
  queues?: string[];
  /** Replaces `claimTask` (e.g. to refuse some tasks). */
  claim?: (d: JobDraft, key: string) => ClaimResult | null;
}

export class Harness {
  readonly store: Store;
  /** Status transitions seen through this harness, as "from→to". */
  readonly seen = { job: new Set<string>(), task: new Set<string>() };
  private clockMs: number;

  constructor(store: Store, startMs = Date.parse("2030-01-01T00:00:00.000Z")) {
    this.store = store;
    this.clockMs = startMs;
  }

  /** A time strictly later than the previous one, as Belay writes times. */
  now(): string {
    this.clockMs += 1;
    return new Date(this.clockMs).toISOString();
  }

  get nowMs(): number {
    return this.clockMs;
  }

  /** Skip the clock forward. */
  advance(ms: number): void {
    this.clockMs += ms;
  }

  async job(id: string): Promise<Job> {
    const job = await this.store.getJob(id);
    if (job === null) throw new Error(`job ${id} not found`);
    return job;
  }

  /** Submit a job spec as the engine does; returns the stored job. */
  async submit(input: unknown, options: { owner?: string; id?: string } = {}): Promise<Job> {
    const result = await this.insert(input, options);
    expect(result.created).toBe(true);
    return result.job;
  }

  async insert(input: unknown, options: { owner?: string; id?: string } = {}): Promise<{ job: Job; created: boolean; events: BelayEvent[] }> {
    const job = newJob(parseJobSpec(input), { id: options.id ?? newId(), owner: options.owner ?? "alice", now: this.now() });
    const result = await this.store.insertJob((d) => {
      d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
      settle(d);
    }, job);
    if (result.created) {
      await this.checkWritten(result.job, result.events);
      expect(result.events[0]?.type).toBe("belay.job.created");
    } else {
      expect(result.events).toEqual([]);
    }
    return result;
  }

  /** `insertJobs` (bulk submit) of these specs, each result checked as `insert` checks one. */
  async insertMany(inputs: unknown[], options: { owner?: string; ids?: string[] } = {}): Promise<Array<{ job: Job; created: boolean; events: BelayEvent[] }>> {
    const items = inputs.map((input, i) => {
      const job = newJob(parseJobSpec(input), { id: options.ids?.[i] ?? newId(), owner: options.owner ?? "alice", now: this.now() });
      return {
        job,
        build: (d: JobDraft) => {
          d.emit("belay.job.created", null, { status: "queued", name: job.name, queue: job.queue, owner: job.owner });
          settle(d);
        },
      };
    });
    const results = await this.store.insertJobs(items);
    expect(results).toHaveLength(items.length);
    for (const result of results) {
      if (result.created) {
        await this.checkWritten(result.job, result.events);
        expect(result.events[0]?.type).toBe("belay.job.created");
      } else {
        expect(result.events).toEqual([]);
      }
    }
    return results;
  }

  /** `mutateJob`, checked. */
  async mutate<T>(jobId: string, mutate: Mutator<T>): Promise<MutationResult<T>> {
    const before = await this.store.getJob(jobId);
    const result = await this.store.mutateJob(jobId, this.now(), mutate);
    await this.checkWritten(result.job, result.events);
    if (before !== null) this.record(before, result.job, result.events);
    return result;
  }

  /** `claimTasks` with `claimTask`, checked. */
  async claim(options: ClaimOptionsInput = {}): Promise<Array<ClaimedTask<ClaimResult | null>>> {
    const nodeId = options.nodeId ?? "node-1";
    const claimed = await this.store.claimTasks(
      { nodeId, max: options.max ?? 10, pools: options.pools ?? {}, now: this.now(), ...(options.queues === undefined ? {} : { queues: options.queues }) },
      options.claim ?? ((d, key) => claimTask(d, key, nodeId)),
    );
    for (const c of claimed) {
      // A job with two claimed tasks was returned twice; the stored one is the later.
      const last = claimed.filter((x) => x.jobId === c.jobId).at(-1);
      if (last === c) expect(await this.store.getJob(c.jobId)).toEqual(c.job);
      await this.checkEvents(c.jobId, c.events);
      for (const e of c.events) this.recordEvent(e);
    }
    return claimed;
  }

  /** Claim exactly the given tasks ("jobId/key"), and nothing else. */
  async claimExactly(expected: string[], options: ClaimOptionsInput = {}): Promise<Array<ClaimedTask<ClaimResult | null>>> {
    const claimed = await this.claim(options);
    expect(claimed.map((c) => `${c.jobId}/${c.taskKey}`)).toEqual(expected);
    return claimed;
  }

  private async checkWritten(job: Job, events: BelayEvent[]): Promise<void> {
    expect(await this.store.getJob(job.id)).toEqual(job);
    await this.checkEvents(job.id, events);
  }

  private async checkEvents(jobId: string, events: BelayEvent[]): Promise<void> {
    const first = events[0];
    if (first === undefined) return;
    for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
    expect(await this.store.jobEvents(jobId, first.seq - 1, events.length)).toEqual(events);
  }

  private record(before: Job, after: Job, events: BelayEvent[]): void {
    for (const e of events) this.recordEvent(e);
    // Moves to `pending` (a retry) and `cancelling` have no event of their own.
    for (const task of after.tasks) {
      const from = before.tasks.find((t) => t.key === task.key)?.status;
      if (from !== undefined && from !== task.status && (task.status === "pending" || task.status === "cancelling")) {
        this.seen.task.add(`${from}→${task.status}`);
      }
    }
  }

  private recordEvent(e: BelayEvent): void {
    const { from, status } = e.data;
    if (typeof from !== "string" || typeof status !== "string") return;
    if (e.type.startsWith("belay.job.") && e.type !== "belay.job.resumed") this.seen.job.add(`${from}→${status}`);
    if (e.type.startsWith("belay.task.")) this.seen.task.add(`${from}→${status}`);
  }
}
