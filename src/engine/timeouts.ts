/**
 * The timeout sweep (DESIGN §4 `timeoutMs`, `queueTimeoutMs`): a job past its deadline is
 * cancelled like any other, with reason `timeout` and the system as requester, so its stop
 * follows the same steps and leaves the same record.
 */
import type { Logger } from "pino";
import type { Store } from "../store/store.ts";
import type { JobCanceller } from "./cancel-requests.ts";

/** Jobs cancelled per sweep at most; the next poll takes the rest. */
const sweepLimit = 100;

export class TimeoutSweep {
  private readonly deps: { store: Pick<Store, "expiredJobs">; canceller: JobCanceller; logger: Logger };

  constructor(deps: { store: Pick<Store, "expiredJobs">; canceller: JobCanceller; logger: Logger }) {
    this.deps = deps;
  }

  async sweep(): Promise<void> {
    for (const expired of await this.deps.store.expiredJobs(Date.now(), sweepLimit)) {
      await this.deps.canceller
        .cancelJob(expired.jobId, { requestedBy: "system", reason: "timeout" })
        .catch((error: unknown) => this.deps.logger.debug({ err: error, jobId: expired.jobId }, "timeout cancel not applied"));
    }
  }
}
