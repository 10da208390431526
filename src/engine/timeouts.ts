/**
 * The timeout sweep: every time-based cancel the system makes. A job past its deadline
 * (DESIGN §4 `timeoutMs`, `queueTimeoutMs`) is cancelled like any other, with reason
 * `timeout`; a running task past its stall deadline (DESIGN §7 `stallTimeoutMs`, written by
 * `StallClock`) is cancelled like any task, with reason `stalled`. The system is the
 * requester, so each stop follows the same steps, releases the same slots and leaves the same
 * record as a user's cancel.
 */
import type { Logger } from "pino";
import type { Store } from "../store/store.ts";
import type { JobCanceller } from "./types.ts";

/** Jobs (and stalled tasks) cancelled per sweep at most; the next poll takes the rest. */
const sweepLimit = 100;

export interface TimeoutSweepDeps {
  store: Pick<Store, "expiredJobs" | "stalledTasks">;
  canceller: JobCanceller;
  logger: Logger;
  /** Called for each stall cancel this sweep made (not for one already under way). */
  onStalled?: (stalled: { jobId: string; taskKey: string }) => void;
}

export class TimeoutSweep {
  private readonly deps: TimeoutSweepDeps;

  constructor(deps: TimeoutSweepDeps) {
    this.deps = deps;
  }

  async sweep(): Promise<void> {
    for (const expired of await this.deps.store.expiredJobs(Date.now(), sweepLimit)) {
      await this.deps.canceller
        .cancelJob(expired.jobId, { requestedBy: "system", reason: "timeout" })
        .catch((error: unknown) => this.deps.logger.debug({ err: error, jobId: expired.jobId }, "timeout cancel not applied"));
    }
    for (const stalled of await this.deps.store.stalledTasks(Date.now(), sweepLimit)) {
      await this.deps.canceller
        .cancelTask(stalled.jobId, stalled.taskKey, { requestedBy: "system", reason: "stalled" })
        .then((result) => {
          if (!result.alreadyCancelled) {
            this.deps.logger.info({ jobId: stalled.jobId, taskKey: stalled.taskKey }, "task stalled: cancelled");
            this.deps.onStalled?.(stalled);
          }
        })
        .catch((error: unknown) => this.deps.logger.debug({ err: error, ...stalled }, "stall cancel not applied"));
    }
  }
}
