/**
 * Claims ready tasks within the node's concurrency limit and hands them to `Runs`. It is
 * woken on every change that can free a slot or make a task ready (submit, end of an
 * attempt, resume, a task cancel) and polls at `pollIntervalMs` for everything else (jobs
 * submitted by another process, timeouts, the cluster's catch-up).
 *
 * The store decides what may start: a task of a job that is `cancelling` or `cancelled` is
 * not `pending` any more (the cancel's transaction moved it), and the claim re-checks the
 * job's status inside its own transaction.
 */
import type { Logger } from "pino";
import { claimTask } from "../core/lifecycle.ts";
import type { JobWriter } from "./job-writer.ts";
import type { Runs } from "./runs.ts";
import type { TimeoutSweep } from "./timeouts.ts";
import { crashPoint } from "./crash-points.ts";

export interface SchedulerDeps {
  /** Claims are writes of the claimed jobs. */
  writer: JobWriter;
  runs: Runs;
  /** Cancels the jobs past their deadline, on each poll. */
  timeouts: Pick<TimeoutSweep, "sweep">;
  logger: Logger;
  nodeId: string;
  concurrency: number;
  pools: Record<string, number>;
  queues: string[] | undefined;
  pollIntervalMs: number;
  /** Periodic work beside claiming and timeouts (a shared store's catch-up). */
  onPoll: () => Promise<void>;
  /** False while this node's lease is not known held (cluster/presence.ts): no claims then. */
  leaseHeld?: () => boolean;
}

export class Scheduler {
  private readonly deps: SchedulerDeps;
  private scheduled = false;
  private again = false;
  private claiming: Promise<void> = Promise.resolve();
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private stopped = false;
  /** Draining: no more claims, but the poll (the cluster's catch-up, timeouts) goes on. */
  private paused = false;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.deps.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Stop claiming. Runs already started go on. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stop claiming at once (a drain); the poll goes on. Runs already started go on. */
  pauseClaims(): void {
    this.paused = true;
  }

  /** Ask for a claim round soon; many wakes in one tick make one round. */
  wake(): void {
    if (this.stopped || this.paused) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.claiming = this.round();
    });
  }

  /** Resolves when the claim round in flight (if any) has registered its runs. */
  settled(): Promise<void> {
    return this.claiming;
  }

  private async round(): Promise<void> {
    if (this.stopped || this.paused) return;
    // The next poll wakes a round again once a heartbeat has renewed the lease.
    if (this.deps.leaseHeld?.() === false) return;
    this.busy = true;
    let claimedAll = false;
    try {
      const free = this.deps.concurrency - this.deps.runs.size;
      if (free > 0) {
        const claims = await this.deps.writer.claim(
          {
            nodeId: this.deps.nodeId,
            max: free,
            pools: this.deps.pools,
            ...(this.deps.queues === undefined ? {} : { queues: this.deps.queues }),
          },
          (draft, key) => claimTask(draft, key, this.deps.nodeId),
        );
        for (const claim of claims) {
          this.deps.writer.publish(claim.events);
          crashPoint("claim");
          this.deps.runs.start(claim.job, claim.value.task, claim.value.lastCheckpoint);
        }
        claimedAll = claims.length === free;
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, "claim failed");
    } finally {
      this.busy = false;
    }
    // A full round may have left more work; a wake during the round asked for another.
    if (claimedAll || this.again) {
      this.again = false;
      this.wake();
    }
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      await this.deps.onPoll();
      await this.deps.timeouts.sweep();
    } catch (error) {
      this.deps.logger.error({ err: error }, "poll failed");
    } finally {
      this.polling = false;
    }
    this.wake();
  }
}
