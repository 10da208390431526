/**
 * Follows up the remote jobs a cancellation could not stop for sure (DESIGN §3): the
 * service refused the cancel, or the task was force-stopped before it answered. For each,
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
import type { Store } from "../store/store.ts";
import type { JobWriter } from "./job-writer.ts";

export interface RemoteFollowUpDeps {
  store: Store;
  /** The one writer of jobs (each refusal, acceptance and stop is a change of the job). */
  writer: Pick<JobWriter, "mutate">;
  remote: RemoteRunner | undefined;
  logger: Logger;
  /** Waits between refused cancels; the last one repeats. */
  retryDelaysMs: readonly number[];
  /** Wait between two polls of a remote job whose cancel was accepted. */
  pollIntervalMs: number;
  closing: () => boolean;
}

const endStates = new Set(["succeeded", "failed", "cancelled"]);

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
      const loop = this.followOne(record.jobId, record.id, report.key, report.remote.adapter, report.remote.remoteId, report.remote.cancelled);
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

  private async followOne(jobId: string, recordId: string, key: string, adapter: string, remoteId: string, acceptedBefore: boolean): Promise<void> {
    const { remote, logger } = this.deps;
    const { mutate } = this.deps.writer;
    if (remote === undefined) return;
    let accepted = acceptedBefore;
    const { retryDelaysMs, pollIntervalMs } = this.deps;
    // The cancel that made the record partial was the first refusal: wait before the next one.
    let refusals = accepted ? 0 : 1;
    await delay(accepted ? pollIntervalMs : (retryDelaysMs[0] ?? pollIntervalMs));
    while (!this.deps.closing()) {
      const state = await remote.pollOrphan(adapter, remoteId).catch((error: unknown) => {
        logger.warn({ err: error, jobId, cancellationId: recordId, taskKey: key, remoteId }, "remote poll failed during a cancel follow-up");
        return null;
      });
      if (state !== null && endStates.has(state)) {
        await mutate(jobId, (d) => confirmRemoteStopped(d, recordId, key, state));
        logger.info({ jobId, cancellationId: recordId, taskKey: key, remoteId, remoteState: state }, "remote job stopped after a refused cancel");
        return;
      }
      if (!accepted) {
        try {
          await remote.cancelOrphan(adapter, remoteId);
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
