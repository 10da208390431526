/**
 * One cancellation record, as a person reads it: who asked and why, each step with its
 * start, end and detail, what happened to each task's runner (signalled → acknowledged →
 * stopped, graceful or forced), the remote cancel, cleanup and compensation results.
 */
import type { JSX } from "preact";
import type { CancellationRecord } from "../api.ts";
import { between, clock, dateTime, duration, offset, plural } from "../format.ts";
import { Link } from "../router.tsx";
import { Badge } from "./Badge.tsx";

const stepTitles: Record<string, { title: string; what: string }> = {
  block_dispatch: { title: "Block dispatch", what: "No task of the job may start from now on." },
  cancel_pending_tasks: { title: "Cancel pending tasks", what: "Tasks that had not started are cancelled." },
  signal_runners: { title: "Signal runners", what: "Running tasks get SIGTERM (processes), an abort signal (handlers) or the remote service's cancel." },
  await_runners: { title: "Await runners", what: "Wait, up to the grace period, for the signalled tasks to exit." },
  force_kill: { title: "Force kill", what: "Whatever is still running is killed (SIGKILL, thread terminated)." },
  cleanup: { title: "Cleanup", what: "Slots and leases released, work directories removed; artifacts kept." },
  compensate: { title: "Compensate", what: "Compensation tasks undo external effects." },
  finalize: { title: "Finalize", what: "The outcome is recorded." },
  quiesce: { title: "Quiesce", what: "The schedules and queue that produce the matching jobs are paused first, so no new work arrives." },
  cancel_jobs: { title: "Cancel jobs", what: "Each matching job gets its own cancellation." },
};

const outcomeWords: Record<string, string> = {
  before_start: "stopped before it started",
  mid_run: "stopped while running",
  finished_first: "finished before the signal (result kept)",
};

// Every stop mode has its words (the type says so): a new mode cannot show as a raw code.
const modeWords: Record<NonNullable<CancellationRecord["tasks"][number]["mode"]>, string> = {
  graceful: "graceful (exited on its own)",
  forced: "forced (killed)",
  remote: "remote (cancelled by the service)",
  remote_refused: "remote cancel refused (the remote job may still run)",
};

const keyWords: Record<string, string> = {
  jobStatus: "job status",
  cancelled: "cancelled",
  signalled: "signalled",
  force: "forced",
  exited: "exited",
  remaining: "still running",
  escalated: "escalated to force",
  killed: "killed",
  keys: "tasks",
  removed: "work dirs removed",
  attempts: "attempts",
  artifactsKept: "artifacts kept",
  ran: "ran",
  failed: "failed",
  status: "status",
  error: "error",
  errors: "errors",
  matched: "matched",
  total: "total",
  done: "done",
};

function words(key: string): string {
  return keyWords[key] ?? key.replace(/([a-z])([A-Z])/g, "$1 $2").replaceAll("_", " ").toLowerCase();
}

function value(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number" || typeof v === "string") return String(v);
  if (Array.isArray(v)) return v.length === 0 ? "none" : v.map(value).join(", ");
  if (typeof v === "object") {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${words(k)} ${value(x)}`)
      .join("; ");
  }
  return String(v);
}

export function Detail(props: { detail: Record<string, unknown> | null }): JSX.Element | null {
  const entries = Object.entries(props.detail ?? {});
  if (entries.length === 0) return null;
  return (
    <dl class="detail">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{words(k)}</dt>
          <dd>{value(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

function remoteText(record: CancellationRecord): string | null {
  const { attempted, cancelled } = record.remote;
  if (attempted === 0) return null;
  if (cancelled === attempted) return `${plural(attempted, "remote job")} cancelled by the remote service.`;
  // A refused remote cancel leaves the record partial while Belay retries it (DESIGN §3): say so, not "completed".
  const pending = record.remote.pending ?? 0;
  const after = pending > 0
    ? `the local task has ended, but ${plural(pending, "remote job")} may still run: Belay retries the cancel and watches until it has stopped.`
    : "the remote jobs have stopped since.";
  return `The remote service confirmed ${cancelled} of ${plural(attempted, "remote cancel")}; ${after}`;
}

export function CancellationTimeline(props: { record: CancellationRecord; showJob?: boolean }): JSX.Element {
  const r = props.record;
  const cleanup = r.steps.find((s) => s.name === "cleanup");
  const remote = remoteText(r);
  return (
    <div class="timeline-record" data-cancellation={r.id} data-status={r.status}>
      <div class="record-head">
        <Badge status={r.status} />
        <span>
          {r.scope === "task" ? `Task “${r.taskKey ?? "?"}” stopped` : r.scope === "bulk" ? "Bulk stop" : "Job stopped"} by <strong>{r.requestedBy}</strong>
          {r.requestedBy === "system" ? " (automatic)" : ""}, {dateTime(r.requestedAt)}
        </span>
      </div>
      <dl class="record-facts">
        <div>
          <dt>Reason</dt>
          <dd>{r.reason === null || r.reason === "" ? <span class="muted">none given</span> : `“${r.reason}”`}</dd>
        </div>
        {props.showJob === true && r.jobId !== null ? (
          <div>
            <dt>Job</dt>
            <dd>
              <Link href={`/jobs/${r.jobId}`}>{r.jobId}</Link>
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Force</dt>
          <dd>{r.force ? "yes — grace period skipped" : `no — grace period ${duration(r.graceMs)}`}</dd>
        </div>
        {r.scope === "task" ? (
          <div>
            <dt>Cascade</dt>
            <dd>{r.cascade ? "yes — dependents cancelled too" : "no — dependents run as if it were skipped"}</dd>
          </div>
        ) : null}
        <div>
          <dt>Took</dt>
          <dd>{r.completedAt === null ? `in progress for ${duration(between(r.requestedAt, null))}` : duration(r.durationMs)}</dd>
        </div>
        {r.scope === "bulk" && r.progress !== null ? (
          <div>
            <dt>Progress</dt>
            <dd>
              {r.progress.done} of {plural(r.progress.total, "job")} done
            </dd>
          </div>
        ) : null}
        {r.scope === "bulk" ? null : (
          <div>
            <dt>Runners stopped</dt>
            <dd>
              {r.runnersTerminated.graceful} graceful, {r.runnersTerminated.forced} forced
            </dd>
          </div>
        )}
        {remote === null ? null : (
          <div>
            <dt>Remote cancel</dt>
            <dd>{remote}</dd>
          </div>
        )}
        {cleanup === undefined ? null : (
          <div>
            <dt>Cleanup</dt>
            <dd>
              {cleanup.status === "completed" ? "done" : cleanup.status}
              {cleanup.detail === null ? "" : ` — ${value(cleanup.detail)}`}
            </dd>
          </div>
        )}
      </dl>

      <h4 class="sub">Steps</h4>
      {r.steps.length === 0 ? (
        <p class="muted">No step recorded: {r.status === "completed" ? "the job was cancelled before it started." : "nothing to do."}</p>
      ) : (
        <ol class="steps">
          {r.steps.map((s) => (
            <li key={s.name} class={`step step-${s.status}`} data-step={s.name} data-step-status={s.status}>
              <div class="step-head">
                <span class="step-name">{stepTitles[s.name]?.title ?? s.name}</span>
                <Badge status={s.status} small />
                <span class="step-time">
                  {clock(s.startedAt)} → {s.finishedAt === null ? "…" : clock(s.finishedAt)}
                  {s.finishedAt === null ? "" : ` (${duration(between(s.startedAt, s.finishedAt))})`}
                </span>
              </div>
              <p class="step-what">{stepTitles[s.name]?.what ?? ""}</p>
              <Detail detail={s.detail} />
            </li>
          ))}
        </ol>
      )}

      {r.tasks.length === 0 ? null : (
        <>
          <h4 class="sub">Tasks</h4>
          <p class="small muted">Times are counted from the request ({clock(r.requestedAt)}).</p>
          <table class="table stack compact">
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">What happened</th>
                <th scope="col" title="Times from the request">
                  Signalled → acknowledged → stopped
                </th>
                <th scope="col">How</th>
                <th scope="col">Exit</th>
              </tr>
            </thead>
            <tbody>
              {r.tasks.map((t) => (
                <tr key={t.key} data-task={t.key}>
                  <td data-label="Task">
                    <strong>{t.key}</strong>
                  </td>
                  <td data-label="What happened">{outcomeWords[t.outcome] ?? t.outcome}</td>
                  <td data-label="Signal → stop" class="mono">
                    {t.signalledAt === null
                      ? t.outcome === "finished_first"
                        ? `not signalled: ended ${offset(t.stoppedAt, r.requestedAt)}`
                        : `not signalled: stopped ${offset(t.stoppedAt, r.requestedAt)}`
                      : `${offset(t.signalledAt, r.requestedAt)} → ${t.acknowledgedAt === null ? "—" : offset(t.acknowledgedAt, r.requestedAt)} → ${t.stoppedAt === null ? "still running" : offset(t.stoppedAt, r.requestedAt)}`}
                  </td>
                  <td data-label="How">{t.mode === null ? "—" : (modeWords[t.mode] ?? t.mode)}</td>
                  <td data-label="Exit">{t.exitCode === null ? "—" : t.exitCode}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}

      {r.affectedTasks.length === 0 ? null : (
        <p class="affected">
          <span class="muted">State changes:</span>{" "}
          {r.affectedTasks.map((a, i) => (
            <span key={`${a.key}-${i}`}>
              {i === 0 ? "" : ", "}
              {a.key}: {a.from} → {a.to}
            </span>
          ))}
        </p>
      )}

      {r.compensation.length === 0 ? null : (
        <>
          <h4 class="sub">Compensation</h4>
          <ul class="plain">
            {r.compensation.map((c) => (
              <li key={c.key}>
                <strong>{c.key}</strong> <Badge status={c.status} small />
                {c.error === null ? "" : ` — ${c.error}`}
              </li>
            ))}
          </ul>
        </>
      )}

      {r.errors.length === 0 ? null : (
        <>
          <h4 class="sub">Errors</h4>
          <ul class="plain errors">
            {r.errors.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
