/** A cancellation record for people: its header, steps, runners and tasks (`job cancel-status`, the end of `job cancel`). */
import type { CancellationRecord, CancellationStep } from "../core/model.ts";
import { between, detail, duration, fields, offset, table, time, yesNo } from "./format.ts";
import { modeStyle, paint, status } from "./style.ts";

export function stepDuration(step: CancellationStep): string {
  return step.status === "pending" || step.status === "running" ? "-" : duration(between(step.startedAt, step.finishedAt));
}

export function runnersLine(record: CancellationRecord): string {
  const { graceful, forced } = record.runnersTerminated;
  const pending = record.remote.pending ?? 0;
  const stillRunning = pending > 0 ? paint(`, ${pending} may still be running (the cancel is retried)`, "red") : "";
  const remote = record.remote.attempted > 0 ? `; remote jobs: ${record.remote.cancelled} of ${record.remote.attempted} cancelled${stillRunning}` : "";
  return `runners stopped: ${graceful} graceful, ${forced} forced${remote}`;
}

export function affectedLine(record: CancellationRecord): string | null {
  if (record.affectedTasks.length === 0) return null;
  return `tasks: ${record.affectedTasks.map((t) => `${t.key} ${t.from}→${t.to}`).join(", ")}`;
}

export function renderCancellation(record: CancellationRecord): string {
  const out: string[] = [];
  out.push(
    fields([
      ["cancellation", record.id],
      ["status", status(record.status)],
      ["scope", record.scope + (record.taskKey === null ? "" : ` (task ${record.taskKey})`)],
      ["job", record.jobId ?? "-"],
      ["reason", record.reason ?? "-"],
      ["requested by", `${record.requestedBy} at ${time(record.requestedAt)}`],
      ["options", `force ${yesNo(record.force)}, cascade ${yesNo(record.cascade)}, grace ${duration(record.graceMs)}`],
      ["completed", record.completedAt === null ? "-" : `${time(record.completedAt)} (${duration(record.durationMs)})`],
      ...(record.progress === null ? [] : [["progress", `${record.progress.done} of ${record.progress.total} jobs`] as const]),
    ]),
  );
  out.push("");
  out.push(
    table(
      ["STEP", "STATUS", "STARTED", "DURATION", "DETAIL"],
      record.steps.map((s) => [s.name, status(s.status), offset(record.requestedAt, s.startedAt), stepDuration(s), detail(s.detail)]),
    ),
  );
  if (record.tasks.length > 0) {
    out.push("");
    out.push(
      table(
        ["TASK", "ATTEMPT", "OUTCOME", "STOPPED", "SIGNALLED", "ACKNOWLEDGED", "EXITED", "EXIT CODE"],
        record.tasks.map((t) => [
          t.key,
          String(t.attempt),
          t.outcome,
          t.mode === null ? "-" : paint(t.mode, modeStyle(t.mode)),
          offset(record.requestedAt, t.signalledAt),
          offset(record.requestedAt, t.acknowledgedAt),
          offset(record.requestedAt, t.stoppedAt),
          t.exitCode === null ? "-" : String(t.exitCode),
        ]),
      ),
    );
  }
  out.push("");
  out.push(runnersLine(record));
  const affected = affectedLine(record);
  if (affected !== null) out.push(affected);
  for (const t of record.tasks) {
    const r = t.remote;
    if (r === null || r === undefined || (r.cancelled && r.stopped && t.mode !== "remote_refused")) continue;
    const job = r.runner === "slurm" ? `slurm job ${r.remoteId ?? "?"} of task ${t.key}` : `remote job ${r.remoteId ?? "?"} of task ${t.key} (${r.adapter})`;
    if (r.stopped) out.push(`${job}: stopped (${r.finalState ?? "?"}) at ${time(r.stoppedAt)}, after ${r.attempts} cancel request(s)`);
    else out.push(paint(`${job}: ${r.cancelled ? "cancel accepted, not yet stopped" : `cancel refused ${r.attempts} time(s)`}; it may still be running`, "red"));
  }
  for (const c of record.compensation) out.push(`compensation ${c.key}: ${c.status}${c.error === null ? "" : ` (${c.error})`}`);
  for (const e of record.errors) out.push(`error: ${e}`);
  return out.join("\n");
}
