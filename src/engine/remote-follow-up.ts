/**
 * Follows up the external jobs a cancellation could not stop for sure (DESIGN §3): a remote
 * adapter's job whose service refused the cancel (or the task was force-stopped before it
 * answered), or a Slurm job whose `scancel` failed or that did not leave. For each,
 * the cancel is retried with backoff until the service accepts it, and the remote job is
 * polled until it has ended; each refusal, the acceptance and the end are written to the
 * record (`src/core/remote-stops.ts`), which becomes `completed` once none may still run.
 *
 * The loops live as long as the engine; a restarted engine resumes them from the stored
 * `partial` records.
 */
import type { Logger } from "pino";
import { confirmRemoteStopped, pendingRemoteStops, recordRemoteAccepted, recordRemoteRefusal } from "../core/remote-stops.ts";
import type { CancellationRecord } from "../core/model.ts";
import type { RemoteRunner } from "../runners/remote.ts";
import type { SlurmRunner } from "../runners/slurm.ts";
import type { Store } from "../store/store.ts";
import type { JobWriter } from "./job-writer.ts";

/** An external job we asked to stop, as the runner that owns it can poll and cancel it. */
export interface ExternalJobs {
  /** The job's state, `ended` once it will not run any more. Throws when it cannot be read. */
  poll(adapter: string, remoteId: string): Promise<{ ended: boolean; state: string }>;
  /** Ask again to stop it. Throws when refused. */
  cancel(adapter: string, remoteId: string): Promise<void>;
}

const endStates = new Set(["succeeded", "failed", "cancelled"]);

/** A remote adapter's jobs. */
export function remoteJobs(remote: RemoteRunner): ExternalJobs {
  return {
    poll: async (adapter, remoteId) => {
      const state = await remote.pollOrphan(adapter, remoteId);
      return { ended: endStates.has(state), state };
    },
    cancel: (adapter, remoteId) => remote.cancelOrphan(adapter, remoteId),
  };
}

/** A Slurm cluster's jobs. */
export function slurmJobs(slurm: SlurmRunner): ExternalJobs {
  return { poll: (_adapter, id) => slurm.pollStopped(id), cancel: (_adapter, id) => slurm.cancelAgain(id) };
}

export interface RemoteFollowUpDeps {
  store: Store;
  /** The one writer of jobs (each refusal, acceptance and stop is a change of the job). */
  writer: Pick<JobWriter, "mutate">;
  /** Who follows which jobs up: a record's remote stop names its runner (`runner`, absent for remote adapters). */
  jobs: { remote?: ExternalJobs | undefined; slurm?: ExternalJobs | undefined };
  logger: Logger;
  /** Waits between refused cancels; the last one repeats. */
  retryDelaysMs: readonly number[];
  /** Wait between two polls of a remote job whose cancel was accepted. */
  pollIntervalMs: number;
  closing: () => boolean;
}

export class RemoteFollowUp {
  private readonly deps: RemoteFollowUpDeps;
  /** `recordId/taskKey` of the remote jobs followed now, so a record is never followed twice. */
  private readonly following = new Set<string>();

  constructor(deps: RemoteFollowUpDeps) {
    this.deps = deps;
  }

  /** Start following every remote job of this record that may still run. */
  follow(record: CancellationRecord): void {
    if (record.jobId === null) return;
    for (const report of pendingRemoteStops(record)) {
      const id = `${record.id}/${report.key}`;
      if (this.following.has(id) || report.remote.remoteId === null) continue;
      this.following.add(id);
      const jobs = this.deps.jobs[report.remote.runner ?? "remote"];
      if (jobs === undefined) {
        this.deps.logger.warn({ cancellationId: record.id, taskKey: report.key, runner: report.remote.runner ?? "remote" }, "a stop to follow up, but this node has no such runner");
        this.following.delete(id);
        continue;
      }
      const loop = this.followOne(jobs, record.jobId, record.id, report.key, report.remote.adapter, report.remote.remoteId, report.remote.cancelled);
      void loop
        .catch((error: unknown) => this.deps.logger.error({ err: error, cancellationId: record.id, taskKey: report.key }, "remote cancel follow-up failed"))
        .finally(() => this.following.delete(id));
    }
  }

  /** After a restart: follow the stored records that still wait for a remote job to stop. */
  async resumeStored(): Promise<void> {
    const { items } = await this.deps.store.listCancellations({ status: "partial" }, { limit: 1000, offset: 0 });
    for (const record of items) if ((record.remote.pending ?? 0) > 0) this.follow(record);
  }

  private async followOne(remote: ExternalJobs, jobId: string, recordId: string, key: string, adapter: string, remoteId: string, acceptedBefore: boolean): Promise<void> {
    const { logger } = this.deps;
    const { mutate } = this.deps.writer;
    let accepted = acceptedBefore;
    const { retryDelaysMs, pollIntervalMs } = this.deps;
    // The cancel that made the record partial was the first refusal: wait before the next one.
    let refusals = accepted ? 0 : 1;
    await delay(accepted ? pollIntervalMs : (retryDelaysMs[0] ?? pollIntervalMs));
    while (!this.deps.closing()) {
      const polled = await remote.poll(adapter, remoteId).catch((error: unknown) => {
        logger.warn({ err: error, jobId, cancellationId: recordId, taskKey: key, remoteId }, "remote poll failed during a cancel follow-up");
        return null;
      });
      if (polled !== null && polled.ended) {
        await mutate(jobId, (d) => confirmRemoteStopped(d, recordId, key, polled.state));
        logger.info({ jobId, cancellationId: recordId, taskKey: key, remoteId, remoteState: polled.state }, "remote job stopped after a refused cancel");
        return;
      }
      if (!accepted) {
        try {
          await remote.cancel(adapter, remoteId);
          accepted = true;
          await mutate(jobId, (d) => recordRemoteAccepted(d, recordId, key));
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          await mutate(jobId, (d) => recordRemoteRefusal(d, recordId, key, message));
          logger.warn({ jobId, cancellationId: recordId, taskKey: key, remoteId, error: message }, "remote cancel refused again");
          refusals += 1;
        }
      }
      await delay(accepted ? pollIntervalMs : (retryDelaysMs[Math.min(refusals, retryDelaysMs.length) - 1] ?? pollIntervalMs));
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
