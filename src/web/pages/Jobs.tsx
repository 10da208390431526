/**
 * The live board: queued, running and cancelling jobs, re-read whenever the event stream
 * says something changed. Jobs that finish while the page is open move to "Finished while
 * you watched" with their final badge, so a Stop can be followed to its end.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { activeStatuses, belay, isActive } from "../api.ts";
import type { Job } from "../api.ts";
import { Badge } from "../components/Badge.tsx";
import { ErrorNote, settleJobToasts } from "../components/Notice.tsx";
import { ProgressBar } from "../components/Progress.tsx";
import { SearchFields } from "../components/SearchFields.tsx";
import { BulkStopDialog, StopJobDialog } from "../components/StopDialogs.tsx";
import { ago, duration, between, shortId } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { listJobs, parseLabelInput, windowStart } from "../queries.ts";
import { canActOn, canBulkStop, roleNote, useMe } from "../role.ts";
import { Link, setParams, useLocation } from "../router.tsx";

const pageSize = 200;

export function tasksDone(job: Job): string {
  const normal = job.tasks.filter((t) => t.runOn !== "cancel");
  return `${normal.filter((t) => t.status === "succeeded").length}/${normal.length}`;
}

type DialogState = { kind: "stop"; job: Job; force: boolean } | { kind: "bulk"; jobs: Job[] } | null;

export function JobsPage(): JSX.Element {
  const { params } = useLocation();
  const status = params.get("status") ?? "";
  const queue = params.get("queue") ?? "";
  const owner = params.get("owner") ?? "";
  const name = params.get("name") ?? "";
  const label = params.get("label") ?? "";
  const since = params.get("since") ?? "";
  const me = useMe();
  const bulk = canBulkStop(me);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [more, setMore] = useState(false);
  const [recent, setRecent] = useState<Job[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<DialogState>(null);
  const known = useRef<Map<string, Job>>(new Map());
  const loads = useRef(0);
  const now = useNow(1000);
  const filterKey = `${status}|${queue}|${owner}|${name}|${label}|${since}`;
  const filtered = queue !== "" || owner !== "" || name !== "" || label !== "" || since !== "";

  const load = async (): Promise<void> => {
    const mine = ++loads.current;
    try {
      const page = await listJobs({ status: status === "" ? activeStatuses.join(",") : status, queue, owner, name, labels: parseLabelInput(label) ?? [], createdAfter: windowStart(since), limit: pageSize });
      // A slower, older read must not overwrite a newer one.
      if (mine !== loads.current) return;
      setError(null);
      setMore(page.nextCursor !== null && page.nextCursor !== undefined);
      const ids = new Set(page.items.map((j) => j.id));
      // Jobs that left the board: read them once to show how they ended.
      const gone = [...known.current.values()].filter((j) => !ids.has(j.id));
      known.current = new Map(page.items.map((j) => [j.id, j]));
      setJobs(page.items);
      setSelected((s) => new Set([...s].filter((id) => ids.has(id))));
      if (gone.length > 0) {
        const ended = (await Promise.all(gone.slice(0, 20).map((j) => belay.getJob(j.id).catch(() => null)))).filter((j): j is Job => j !== null && !isActive(j.status));
        ended.forEach((j) => settleJobToasts(j.id));
        if (ended.length > 0) setRecent((r) => [...ended, ...r.filter((x) => !ended.some((e) => e.id === x.id))].slice(0, 20));
      }
    } catch (e) {
      if (mine === loads.current) setError(e);
    }
  };
  const refresh = useThrottled(() => void load(), 300);
  // Progress lines can come many times a second: they refresh the board at most once a second.
  const refreshProgress = useThrottled(() => void load(), 1000);

  useEffect(() => {
    known.current = new Map();
    setJobs(null);
    void load();
  }, [filterKey]);
  useEvents({ onEvent: (e) => (e.type === "belay.task.progress" ? refreshProgress() : refresh()), onReconnect: refresh }, []);

  const applyJob = (job: Job): void => {
    setJobs((list) => (list === null ? list : list.map((j) => (j.id === job.id ? job : j))));
    refresh();
  };

  const set = (patch: Record<string, string>): void => setParams({ status, queue, owner, name, label, since, ...patch });
  const selectable = (jobs ?? []).filter((j) => isActive(j.status));
  const allSelected = selectable.length > 0 && selectable.every((j) => selected.has(j.id));
  const toggle = (id: string, on: boolean): void =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <p class="lede">Queued, running and stopping jobs, live.</p>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" value={status} onChange={(e) => set({ status: e.currentTarget.value })}>
            <option value="">all active</option>
            <option value="queued">queued</option>
            <option value="running">running</option>
            <option value="cancelling">cancelling</option>
          </select>
        </div>
        <div class="field">
          <label for="f-queue">Queue</label>
          <input id="f-queue" type="search" value={queue} placeholder="any" onChange={(e) => set({ queue: e.currentTarget.value.trim() })} />
        </div>
        <div class="field">
          <label for="f-owner">Owner</label>
          <input id="f-owner" type="search" value={owner} placeholder="anyone" onChange={(e) => set({ owner: e.currentTarget.value.trim() })} />
        </div>
        <SearchFields idPrefix="f" values={{ name, label, since }} onChange={set} />
      </form>
      {roleNote(me) === null ? null : <p class="small muted role-note">{roleNote(me)}</p>}

      {!bulk ? null : (
      <div class="toolbar" role="toolbar" aria-label="Selected jobs">
        <span class="muted" aria-live="polite">
          {selected.size === 0 ? "Select jobs to stop several at once." : `${selected.size} selected`}
        </span>
        <button type="button" class="button danger" disabled={selected.size === 0} onClick={() => setDialog({ kind: "bulk", jobs: (jobs ?? []).filter((j) => selected.has(j.id)) })}>
          Stop selected{selected.size === 0 ? "" : ` (${selected.size})`}
        </button>
      </div>
      )}

      <ErrorNote error={error} onRetry={() => void load()} />
      {jobs === null ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : jobs.length === 0 ? (
        <div class="empty">
          <p>No {status === "" ? "queued or running" : status} jobs{filtered ? " matching the filters" : ""}.</p>
          <p class="muted">
            Submit one with <code>belay job submit -- sleep 60</code>, or <code>POST /api/v1/jobs</code>. It appears here as soon as it is queued.
          </p>
        </div>
      ) : (
        <table class="table stack jobs-table" aria-label="Active jobs">
          <thead>
            <tr>
              {!bulk ? null : (
                <th scope="col" class="col-select">
                  <input type="checkbox" aria-label="Select all jobs" checked={allSelected} onChange={(e) => setSelected(e.currentTarget.checked ? new Set(selectable.map((j) => j.id)) : new Set())} />
                </th>
              )}
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col" class="col-progress">Progress</th>
              <th scope="col">Age</th>
              <th scope="col">Owner</th>
              <th scope="col">Queue</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-job={job.id} data-status={job.status}>
                {!bulk ? null : (
                  <td class="col-select">
                    <input type="checkbox" aria-label={`Select ${job.name}`} checked={selected.has(job.id)} onChange={(e) => toggle(job.id, e.currentTarget.checked)} />
                  </td>
                )}
                <td data-label="Job" class="cell-job">
                  <Link href={`/jobs/${job.id}`} class="job-name">
                    {job.name}
                  </Link>
                  <span class="mono muted small" title={job.id}>
                    {shortId(job.id)}
                  </span>
                </td>
                <td data-label="Status">
                  <Badge status={job.status} />
                </td>
                <td data-label="Progress" class="col-progress">
                  <ProgressBar ratio={job.progress.ratio} message={job.progress.message} label={`Progress of ${job.name}`} active={job.status === "running"} />
                  <span class="small muted">{tasksDone(job)} tasks done</span>
                </td>
                <td data-label="Age">
                  <span title={`created ${job.createdAt}`}>{ago(job.createdAt, now).replace(" ago", "")}</span>
                  {job.startedAt === null ? null : <span class="small muted block">running {duration(between(job.startedAt, null, now), true)}</span>}
                </td>
                <td data-label="Owner">{job.owner}</td>
                <td data-label="Queue">{job.queue}</td>
                <td class="cell-actions">
                  {!canActOn(me, job) ? null : job.status === "cancelling" ? (
                    <button type="button" class="button small" onClick={() => setDialog({ kind: "stop", job, force: true })}>
                      Force stop
                    </button>
                  ) : (
                    <button type="button" class="button danger small" aria-label={`Stop ${job.name}`} onClick={() => setDialog({ kind: "stop", job, force: false })}>
                      Stop
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {more ? <p class="muted small">Showing the newest {pageSize}. Narrow the filters to see the others.</p> : null}

      {recent.length === 0 ? null : (
        <section class="recent" aria-labelledby="recent-title">
          <div class="section-head">
            <h2 id="recent-title">Finished while you watched</h2>
            <button type="button" class="link-button" onClick={() => setRecent([])}>
              Clear
            </button>
          </div>
          <ul class="recent-list">
            {recent.map((job) => (
              <li key={job.id} data-job={job.id} data-status={job.status}>
                <Link href={`/jobs/${job.id}`} class="job-name">
                  {job.name}
                </Link>
                <Badge status={job.status} />
                <span class="muted small">
                  {job.finishedAt === null ? "" : `ended ${ago(job.finishedAt, now)}`}
                  {job.status === "cancelled" && job.cancellation !== null ? ` · stopped by ${job.cancellation.requestedBy}${job.cancellation.reason === null ? "" : `: “${job.cancellation.reason}”`}` : ""}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}

      {dialog?.kind === "stop" ? (
        <StopJobDialog job={dialog.job} initialForce={dialog.force} onClose={() => setDialog(null)} onDone={(r) => applyJob(r.job)} onError={refresh} />
      ) : null}
      {dialog?.kind === "bulk" ? (
        <BulkStopDialog
          jobs={dialog.jobs}
          onClose={() => setDialog(null)}
          onDone={() => {
            setSelected(new Set());
            refresh();
          }}
        />
      ) : null}
    </section>
  );
}
