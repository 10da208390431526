/**
 * One job: its task graph, live progress and partial results, task logs, and the
 * cancellation timeline. The stored event log is read first, then the live stream
 * continues from its last event (the server replays anything in between).
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { belay, isActive } from "../api.ts";
import type { BelayEvent, CancellationRecord, Job, LogLine } from "../api.ts";
import { Badge } from "../components/Badge.tsx";
import { LineChart, numericSeries } from "../components/Chart.tsx";
import type { ProgressPoint } from "../components/Chart.tsx";
import { ErrorNote, settleJobToasts, toast } from "../components/Notice.tsx";
import { ProgressBar } from "../components/Progress.tsx";
import { StopJobDialog, StopTaskDialog } from "../components/StopDialogs.tsx";
import { JobTreeCard } from "../components/JobTree.tsx";
import { TaskGraph } from "../components/TaskGraph.tsx";
import { TaskRuns } from "../components/TaskRuns.tsx";
import { CancellationTimeline } from "../components/Timeline.tsx";
import { ago, between, clock, dateTime, duration, percent, plural } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { canActOn, roleNote, useMe } from "../role.ts";
import { Link, setParams, useLocation } from "../router.tsx";
import { StoppedBy } from "./History.tsx";

type Task = Job["tasks"][number];
/** A dialog keeps the job as it was when opened: what the person read is what they confirm. */
type DialogState = { kind: "job"; job: Job; force: boolean } | { kind: "task"; job: Job; key: string } | null;

const cancelEvents = new Set(["belay.cancellation.step", "belay.job.cancel_requested", "belay.task.cancelled", "belay.job.cancelled"]);

function progressPoint(e: BelayEvent): ProgressPoint {
  const d = e.data;
  const data = d["data"];
  return {
    seq: e.seq,
    time: e.time,
    attempt: typeof d["attempt"] === "number" ? d["attempt"] : 0,
    ratio: typeof d["ratio"] === "number" ? d["ratio"] : null,
    data: data !== null && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : null,
  };
}

function eventText(e: BelayEvent): string {
  const d = e.data;
  const task = typeof d.taskKey === "string" ? `task ${d.taskKey} ` : "";
  switch (e.type) {
    case "belay.job.created":
      return "job submitted";
    case "belay.job.started":
      return "job started";
    case "belay.job.cancel_requested":
      return `stop requested by ${String(d["requestedBy"] ?? "?")}${typeof d["reason"] === "string" ? `: “${d["reason"]}”` : ""}${d["force"] === true ? " (forced)" : ""}`;
    case "belay.job.resumed":
      return "job resumed";
    case "belay.task.progress":
      return `${task}progress ${percent(typeof d["ratio"] === "number" ? d["ratio"] : null)}${typeof d["message"] === "string" ? ` — ${d["message"]}` : ""}`;
    case "belay.cancellation.step":
      return `cancellation step ${String(d["step"]).replaceAll("_", " ")} ${String(d["status"])}`;
    case "belay.task.cancelled":
      return `${task}cancelled${typeof d["stopMode"] === "string" ? ` (${d["stopMode"]})` : ""}`;
    case "belay.task.failed":
      return `${task}failed${typeof d["error"] === "string" ? `: ${d["error"]}` : ""}`;
    default: {
      const [kind, what] = e.type.replace(/^belay\./, "").split(".");
      return kind === "task" ? `${task}${what ?? ""}` : `job ${what ?? ""}`;
    }
  }
}

/** A cancel whose remote part was not confirmed: the remote job may run on (DESIGN §3). */
function remoteRefused(record: CancellationRecord): boolean {
  const remote = record.remote as { attempted?: unknown; cancelled?: unknown; pending?: unknown } | null | undefined;
  if (remote === null || remote === undefined) return false;
  if (remote.cancelled === false) return true;
  // A server that follows the remote job after a refusal counts those not yet known to have stopped.
  if (typeof remote.pending === "number") return remote.pending > 0;
  return typeof remote.attempted === "number" && typeof remote.cancelled === "number" && remote.cancelled < remote.attempted && record.status !== "in_progress";
}

function taskResult(task: Task): string {
  if (task.error !== null) return task.error;
  if (task.status === "succeeded" || task.status === "failed") return task.exitCode === null ? "—" : `exit ${task.exitCode}`;
  if (task.status === "cancelled" && task.exitCode !== null) return `exit ${task.exitCode}`;
  return "—";
}

const progressPrefix = "BELAY_PROGRESS ";

function progressSummary(line: LogLine | undefined): string {
  if (line === undefined) return "";
  try {
    const data = JSON.parse(line.line.slice(progressPrefix.length)) as Record<string, unknown>;
    const parts = [typeof data["ratio"] === "number" ? percent(data["ratio"]) : null, typeof data["message"] === "string" ? `“${data["message"]}”` : null].filter((p) => p !== null);
    return parts.length === 0 ? "" : `, latest ${parts.join(" ")}`;
  } catch {
    return ", latest not readable as JSON";
  }
}

function LogTail(props: { jobId: string; task: string; live: boolean }): JSX.Element {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  /** Progress lines are data for the bars and charts: folded unless asked for. */
  const [showProgress, setShowProgress] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  /** Keep the newest line in view, until the person scrolls up. */
  const follow = useRef(true);
  const width = useRef(0);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const task = props.task === "" ? {} : { task: props.task };
    const tick = async (first: boolean): Promise<void> => {
      try {
        const items = await belay.logs(props.jobId, first ? { ...task, tail: 300 } : { ...task, after: last });
        if (stopped) return;
        setError(null);
        if (items.length > 0) last = Math.max(last, ...items.map((l) => l.seq));
        if (first) setLines(items);
        else if (items.length > 0) setLines((old) => [...old, ...items].slice(-2000));
        setLoaded(true);
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (!stopped && props.live) timer = setTimeout(() => void tick(false), 1000);
    };
    void tick(true);
    return () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [props.jobId, props.task, props.live]);

  useEffect(() => {
    const el = box.current;
    if (el !== null && follow.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  // A new width rewraps the lines (a phone turned, a window resized): that is no reason to stop following.
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => {
      width.current = el.clientWidth;
      if (follow.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const progressLines = lines.filter((l) => l.line.startsWith(progressPrefix));
  return (
    <div>
      <ErrorNote error={error} />
      {progressLines.length === 0 ? null : (
        <div class="log-fold small" data-count={progressLines.length}>
          <span class="muted">
            {showProgress ? "Showing" : "Folded:"} {plural(progressLines.length, "BELAY_PROGRESS line")}
            {progressSummary(progressLines[progressLines.length - 1])} (they are drawn in the progress bars and charts).
          </span>{" "}
          <button type="button" class="link-button" aria-pressed={showProgress} onClick={() => setShowProgress(!showProgress)}>
            {showProgress ? "Fold them" : "Show them"}
          </button>
        </div>
      )}
      <pre
        class="logs"
        ref={box}
        tabIndex={0}
        role="log"
        aria-label={`Log of ${props.task === "" ? "all tasks" : `task ${props.task}`}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          if (el.clientWidth !== width.current) {
            width.current = el.clientWidth;
            if (follow.current) el.scrollTop = el.scrollHeight;
            return;
          }
          follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {!loaded ? "Loading…" : lines.length === progressLines.length && !showProgress ? <span class="muted">No output yet{progressLines.length === 0 ? "" : " other than progress"}.</span> : null}
        {lines
          .filter((l) => showProgress || !l.line.startsWith(progressPrefix))
          .map((l) => (
            <div key={`${l.seq}`} class={`log-line log-${l.stream}${l.line.startsWith(progressPrefix) ? " log-progress" : ""}`}>
              <span class="log-meta" aria-hidden="true">
                {clock(l.time).slice(0, 8)} {props.task === "" ? `${l.taskKey} ` : ""}
                {l.stream === "stdout" ? "" : `${l.stream} `}
              </span>
              {l.line}
            </div>
          ))}
      </pre>
      <p class="small muted">{props.live ? "Following the log live." : "The job has ended: this is the end of the log."}</p>
    </div>
  );
}

export function JobDetailPage(props: { id: string }): JSX.Element {
  const { id } = props;
  const { params } = useLocation();
  const selected = params.get("task");
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [progress, setProgress] = useState<Map<string, ProgressPoint[]>>(new Map());
  const [activity, setActivity] = useState<BelayEvent[]>([]);
  const [after, setAfter] = useState<number | null>(null);
  const [records, setRecords] = useState<CancellationRecord[]>([]);
  const [dialog, setDialog] = useState<DialogState>(null);
  const [resuming, setResuming] = useState(false);
  const [historyTab, setHistoryTab] = useState<"cancellations" | "events">("cancellations");
  const lastSeq = useRef(0);
  const now = useNow(1000);
  const me = useMe();

  // A toast that said "the cancellation is in progress" is wrong once it is over: it goes.
  const settled = job !== null && !isActive(job.status);
  useEffect(() => {
    if (settled) settleJobToasts(id);
  }, [settled, id]);

  const loadJob = async (): Promise<void> => {
    try {
      setJob(await belay.getJob(id));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  const loadRecords = async (): Promise<void> => {
    try {
      setRecords((await belay.listCancellations({ jobId: id, limit: 20 })).items);
    } catch {
      // The job's own error is shown; a missing timeline is not worth a second alert.
    }
  };
  const refreshJob = useThrottled(() => void loadJob(), 250);
  const refreshRecords = useThrottled(() => void loadRecords(), 300);

  const addEvents = (events: BelayEvent[]): void => {
    const fresh = events.filter((e) => e.seq > lastSeq.current);
    if (fresh.length === 0) return;
    lastSeq.current = fresh[fresh.length - 1]?.seq ?? lastSeq.current;
    const points = fresh.filter((e) => e.type === "belay.task.progress");
    if (points.length > 0) {
      setProgress((old) => {
        const next = new Map(old);
        for (const e of points) {
          const key = typeof e.data.taskKey === "string" ? e.data.taskKey : "?";
          next.set(key, [...(next.get(key) ?? []), progressPoint(e)].slice(-2000));
        }
        return next;
      });
    }
    setActivity((old) => [...old, ...fresh].slice(-300));
  };

  useEffect(() => {
    setJob(null);
    setError(null);
    setProgress(new Map());
    setActivity([]);
    setRecords([]);
    setAfter(null);
    lastSeq.current = 0;
    let stopped = false;
    void loadJob();
    void loadRecords();
    void (async () => {
      // The stored events: progress history for the charts, and the activity list.
      let cursor = 0;
      for (let pages = 0; pages < 20 && !stopped; pages++) {
        try {
          const page = await belay.jobEvents(id, cursor);
          if (stopped) return;
          addEvents(page.items);
          cursor = page.items[page.items.length - 1]?.seq ?? cursor;
          if (page.nextCursor === null || page.nextCursor === undefined) break;
        } catch {
          break;
        }
      }
      if (!stopped) setAfter(lastSeq.current);
    })();
    return () => {
      stopped = true;
    };
  }, [id]);

  useEvents(
    {
      jobId: id,
      after,
      enabled: after !== null,
      onEvent: (e) => {
        addEvents([e]);
        refreshJob();
        if (cancelEvents.has(e.type)) refreshRecords();
      },
      onReconnect: () => {
        refreshJob();
        refreshRecords();
      },
    },
    [id, after !== null],
  );

  if (job === null) {
    return (
      <section>
        <p>
          <Link href="/">← Jobs</Link>
        </p>
        {error === null ? <p class="muted">Loading…</p> : <ErrorNote error={error} onRetry={() => void loadJob()} />}
      </section>
    );
  }

  const active = isActive(job.status);
  const mayAct = canActOn(me, job);
  const refused = records.find(remoteRefused) ?? null;
  const series = numericSeries(progress);
  const visibleSeries = selected === null ? series : series.filter((s) => s.task === selected).concat(series.filter((s) => s.task !== selected)).slice(0, 8);
  const selectTask = (key: string): void => setParams({ task: selected === key ? null : key });
  const resumable = job.status === "cancelled" || job.status === "failed" || job.status === "partial";
  const selectedTask = job.tasks.find((t) => t.key === selected) ?? null;

  const resume = async (): Promise<void> => {
    setResuming(true);
    setActionError(null);
    try {
      const resumed = await belay.resumeJob(job.id);
      setJob(resumed);
      toast(`“${job.name}” resumed: attempt ${resumed.attempt} is queued.`);
    } catch (e) {
      setActionError(e);
    } finally {
      setResuming(false);
    }
  };

  return (
    <section aria-labelledby="job-title" class="job-detail" data-job={job.id} data-status={job.status}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href={active ? "/" : "/history"}>{active ? "Jobs" : "History"}</Link> <span aria-hidden="true">/</span> <span>{job.name}</span>
      </nav>
      <div class="job-head">
        <div class="job-title">
          <h1 id="job-title">{job.name}</h1>
          <Badge status={job.status} />
        </div>
        <div class="job-actions">
          {!mayAct ? null : job.status === "queued" || job.status === "running" ? (
            <button type="button" class="button danger" onClick={() => setDialog({ kind: "job", job, force: false })}>
              Stop job
            </button>
          ) : null}
          {mayAct && job.status === "cancelling" ? (
            <button type="button" class="button danger" onClick={() => setDialog({ kind: "job", job, force: true })}>
              Force stop
            </button>
          ) : null}
          {mayAct && resumable ? (
            <button type="button" class="button primary" disabled={resuming} onClick={() => void resume()}>
              {resuming ? "Resuming…" : "Resume"}
            </button>
          ) : null}
        </div>
      </div>
      {refused === null ? null : (
        <div class="banner banner-amber" role="alert" data-cancellation={refused.id}>
          <strong>The remote job may still be running.</strong> The stop asked the remote service to cancel{" "}
          {refused.remote.attempted === 1 ? "its job" : `${refused.remote.attempted} jobs`} and it did not confirm
          {refused.remote.cancelled === 0 ? "" : ` ${refused.remote.cancelled} of them`} (cancellation record {refused.status.replace("_", " ")}). Check the remote service; the
          cancellation record below has the details.
        </div>
      )}
      {mayAct || roleNote(me) === null ? null : <p class="small muted role-note">{roleNote(me)}</p>}
      <ErrorNote error={actionError} />
      <ErrorNote error={error} />

      <dl class="facts">
        <div>
          <dt>ID</dt>
          <dd class="mono">{job.id}</dd>
        </div>
        <div>
          <dt>Owner</dt>
          <dd>{job.owner}</dd>
        </div>
        <div>
          <dt>Queue</dt>
          <dd>
            {job.queue}
            {job.priority === 0 ? "" : ` · priority ${job.priority}`}
          </dd>
        </div>
        <div>
          <dt>Submitted</dt>
          <dd title={job.createdAt}>{dateTime(job.createdAt)}</dd>
        </div>
        <div>
          <dt>{job.finishedAt === null ? "Running for" : "Ran for"}</dt>
          <dd>{job.startedAt === null ? "not started" : duration(between(job.startedAt, job.finishedAt, now), job.finishedAt === null)}</dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd>{job.attempt}</dd>
        </div>
        <div>
          <dt>Grace period</dt>
          <dd>{duration(job.graceMs)}</dd>
        </div>
        {Object.keys(job.labels).length === 0 ? null : (
          <div>
            <dt>Labels</dt>
            <dd>
              {Object.entries(job.labels).map(([k, v]) => (
                <span key={k} class="tag">
                  {k}={v}
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>

      {job.cancellation === null ? null : (
        <div class={`banner banner-${job.status === "cancelling" ? "warn" : "stop"}`} role="status">
          {job.status === "cancelling" ? (
            <span>
              Stopping — requested by <strong>{job.cancellation.requestedBy}</strong> {ago(job.cancellation.requestedAt, now)}
              {job.cancellation.reason === null ? "" : `: “${job.cancellation.reason}”`}. Follow the steps in the timeline below.
            </span>
          ) : (
            <StoppedBy job={job} now={now} />
          )}
        </div>
      )}

      <ProgressBar ratio={job.progress.ratio} message={job.progress.message} label={`Progress of ${job.name}`} active={active} />

      <section aria-labelledby="history-title" class="card job-history">
        <div class="section-head">
          <h2 id="history-title">History</h2>
          <div class="tabs" role="tablist" aria-label="History">
            <button type="button" role="tab" id="tab-cancellations" aria-controls="panel-cancellations" aria-selected={historyTab === "cancellations"} onClick={() => setHistoryTab("cancellations")}>
              Cancellations ({records.length})
            </button>
            <button type="button" role="tab" id="tab-events" aria-controls="panel-events" aria-selected={historyTab === "events"} onClick={() => setHistoryTab("events")}>
              Events ({activity.length})
            </button>
          </div>
        </div>
        {historyTab === "cancellations" ? (
          <div role="tabpanel" id="panel-cancellations" aria-labelledby="tab-cancellations">
            <h3 id="timeline-title" class="visually-hidden">
              Cancellation timeline
            </h3>
            {records.length === 0 ? (
              <p class="muted">Nobody has stopped this job or any of its tasks.</p>
            ) : (
              records.map((r, i) => (
                <details key={r.id} open={i === 0} class="record">
                  <summary>
                    <Badge status={r.status} small /> {r.scope === "task" ? `task ${r.taskKey ?? "?"}` : r.scope === "bulk" ? "bulk stop" : "whole job"} · by {r.requestedBy} · {ago(r.requestedAt, now)}
                  </summary>
                  <CancellationTimeline record={r} />
                </details>
              ))
            )}
          </div>
        ) : (
          <div role="tabpanel" id="panel-events" aria-labelledby="tab-events">
            <ol class="activity" reversed>
              {[...activity]
                .reverse()
                .slice(0, 150)
                .map((e) => (
                  <li key={e.id} data-type={e.type}>
                    <span class="mono small muted">{clock(e.time)}</span> {eventText(e)}
                  </li>
                ))}
            </ol>
          </div>
        )}
      </section>

      <JobTreeCard job={job} />

      <section aria-labelledby="tasks-title" class="card">
        <h2 id="tasks-title">Tasks</h2>
        <p class="small muted">Select a task to see its log and results.</p>
        <TaskGraph job={job} selected={selected} onSelect={selectTask} />
        <TaskRuns job={job} records={records} now={now} />
        <table class="table stack compact tasks-table" aria-label="Tasks">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Attempt</th>
              <th scope="col">Result</th>
              <th scope="col">Time</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {job.tasks.map((t) => (
              <tr key={t.key} data-task={t.key} data-status={t.status} class={selected === t.key ? "selected" : ""}>
                <td data-label="Task">
                  <button type="button" class="link-button" aria-pressed={selected === t.key} onClick={() => selectTask(t.key)}>
                    {t.key}
                  </button>
                  <span class="small muted">
                    {" "}
                    {t.kind}
                    {t.runOn === "cancel" ? " · on cancel" : ""}
                    {t.dependsOn.length === 0 ? "" : ` · after ${t.dependsOn.map((d) => d.key).join(", ")}`}
                  </span>
                </td>
                <td data-label="Status">
                  <Badge status={t.status} />
                </td>
                <td data-label="Progress">{t.progress === null ? <span class="muted">—</span> : <ProgressBar ratio={t.progress.ratio} message={t.progress.message} label={`Progress of task ${t.key}`} active={t.status === "running"} />}</td>
                <td data-label="Attempt">{t.attempt}</td>
                <td data-label="Result" class="cell-result">
                  {taskResult(t)}
                </td>
                <td data-label="Time">{t.startedAt === null ? <span class="muted">not started</span> : duration(between(t.startedAt, t.finishedAt, now), t.finishedAt === null)}</td>
                <td class="cell-actions">
                  {mayAct && active && (t.status === "pending" || t.status === "running") && t.runOn === "normal" ? (
                    <button type="button" class="button danger small" aria-label={`Stop task ${t.key}`} onClick={() => setDialog({ kind: "task", job, key: t.key })}>
                      Stop
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      {series.length === 0 ? null : (
        <section aria-labelledby="results-title" class="card">
          <h2 id="results-title">Partial results</h2>
          <p class="small muted">Numbers reported with progress updates{active ? ", live" : ""}.</p>
          <div class="charts">
            {visibleSeries.map((s) => (
              <LineChart key={`${s.task}/${s.field}`} series={s} />
            ))}
          </div>
        </section>
      )}

      <section aria-labelledby="logs-title" class="card">
        <div class="section-head">
          <h2 id="logs-title">Logs</h2>
          <div class="field inline">
            <label for="log-task">Task</label>
            <select id="log-task" value={selected ?? ""} onChange={(e) => setParams({ task: e.currentTarget.value })}>
              <option value="">all tasks</option>
              {job.tasks.map((t) => (
                <option key={t.key} value={t.key}>
                  {t.key}
                </option>
              ))}
            </select>
          </div>
        </div>
        <LogTail jobId={job.id} task={selectedTask?.key ?? ""} live={active} />
      </section>

      {dialog?.kind === "job" ? (
        <StopJobDialog
          job={dialog.job}
          initialForce={dialog.force}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setJob(r.job);
            refreshRecords();
          }}
          onError={refreshJob}
        />
      ) : null}
      {dialog?.kind === "task" ? (
        <StopTaskDialog
          job={dialog.job}
          taskKey={dialog.key}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setJob(r.job);
            refreshRecords();
          }}
          onError={refreshJob}
        />
      ) : null}
    </section>
  );
}
