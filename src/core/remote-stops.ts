/**
 * Remote jobs a cancellation could not stop for sure (DESIGN §3): the service refused the
 * cancel, or did not answer before the task was force-stopped. The local cancellation
 * completes, but its record stays `partial` while any such remote job may still run; the
 * engine retries the cancel with backoff and polls the remote job, and writes here what it
 * learns. Once every remote job is known to have stopped the record becomes `completed`.
 */
import type { JobDraft } from "./draft.ts";
import type { CancellationRecord, Json, RemoteStop, TaskStopReport } from "./model.ts";

export type RemoteCancelOutcome = "refused" | "accepted" | "stopped";

/** The remote jobs of a record not yet known to have stopped. */
export function pendingRemoteStops(record: CancellationRecord): Array<TaskStopReport & { remote: RemoteStop }> {
  return record.tasks.filter((r): r is TaskStopReport & { remote: RemoteStop } => r.remote !== undefined && r.remote !== null && !r.remote.stopped);
}

/** The record's count of remote jobs still to stop, kept in step with its reports. */
export function countPendingRemote(record: CancellationRecord): void {
  record.remote.pending = pendingRemoteStops(record).length;
}

/** The event every refusal, acceptance and confirmed stop writes (metrics count the refusals by adapter). */
export function emitRemoteCancel(d: JobDraft, record: CancellationRecord, report: TaskStopReport & { remote: RemoteStop }, outcome: RemoteCancelOutcome, error: string | null): void {
  const data: Record<string, Json> = {
    cancellationId: record.id,
    outcome,
    adapter: report.remote.adapter,
    remoteId: report.remote.remoteId,
    attempts: report.remote.attempts,
    error,
    recordStatus: record.status,
    pending: record.remote.pending ?? 0,
  };
  d.emit("belay.cancellation.remote", report.key, data);
}

function findPending(d: JobDraft, recordId: string, key: string): { record: CancellationRecord; report: TaskStopReport & { remote: RemoteStop } } | null {
  const record = d.cancellation(recordId);
  if (record === undefined) return null;
  const report = pendingRemoteStops(record).find((r) => r.key === key);
  return report === undefined ? null : { record, report };
}

/** A retried cancel was refused (or failed) again. */
export function recordRemoteRefusal(d: JobDraft, recordId: string, key: string, error: string): void {
  const found = findPending(d, recordId, key);
  if (found === null) return;
  found.report.remote.attempts += 1;
  found.report.remote.error = error;
  d.putCancellation(found.record);
  emitRemoteCancel(d, found.record, found.report, "refused", error);
}

/** A retried cancel was accepted: the remote job is now polled until it has stopped. */
export function recordRemoteAccepted(d: JobDraft, recordId: string, key: string): void {
  const found = findPending(d, recordId, key);
  if (found === null || found.report.remote.cancelled) return;
  found.report.remote.attempts += 1;
  found.report.remote.cancelled = true;
  found.report.remote.error = null;
  found.record.remote.cancelled += 1;
  d.putCancellation(found.record);
  emitRemoteCancel(d, found.record, found.report, "accepted", null);
}

/**
 * The remote job has stopped (its service reports it ended). When it was the last one, and
 * nothing else made the record partial (its cleanup), the record becomes `completed`.
 */
export function confirmRemoteStopped(d: JobDraft, recordId: string, key: string, remoteState: string): CancellationRecord | null {
  const found = findPending(d, recordId, key);
  if (found === null) return null;
  const { record, report } = found;
  report.remote.stopped = true;
  report.remote.stoppedAt = d.now;
  report.remote.finalState = remoteState;
  countPendingRemote(record);
  const cleanupFailed = record.steps.some((s) => s.name === "cleanup" && s.status === "failed");
  if (record.status === "partial" && record.remote.pending === 0 && !cleanupFailed) record.status = "completed";
  if (d.job.cancellation?.id === record.id) {
    d.job.cancellation = { ...d.job.cancellation, status: record.status };
    d.touchJob();
  }
  d.putCancellation(record);
  emitRemoteCancel(d, record, report, "stopped", null);
  return record;
}
