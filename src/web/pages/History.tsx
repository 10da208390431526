/** Finished jobs, newest first, a page at a time; cancelled jobs say who stopped them, when and why. */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { finishedStatuses } from "../api.ts";
import type { Job } from "../api.ts";
import { Badge } from "../components/Badge.tsx";
import { ErrorNote } from "../components/Notice.tsx";
import { SearchFields } from "../components/SearchFields.tsx";
import { ago, between, dateTime, duration, shortId } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { listJobs, parseLabelInput, windowStart } from "../queries.ts";
import { Link, setParams, useLocation } from "../router.tsx";
import { tasksDone } from "./Jobs.tsx";

const limit = 25;

/** Events after which a job is finished: History re-reads its first page when one arrives. */
const endings = new Set(["belay.job.succeeded", "belay.job.failed", "belay.job.partial", "belay.job.cancelled", "belay.job.resumed"]);

export function StoppedBy(props: { job: Job; now?: number }): JSX.Element | null {
  const c = props.job.cancellation;
  if (c === null) return null;
  if (props.job.status !== "cancelled" && c.scope !== "task") return null;
  return (
    <span class="stopped-by">
      {c.scope === "task" ? `task ${c.taskKey ?? "?"} stopped` : "stopped"} by <strong>{c.requestedBy}</strong>
      {c.requestedBy === "system" ? " (automatic)" : ""} <span title={c.requestedAt}>{ago(c.requestedAt, props.now)}</span>
      {c.reason === null || c.reason === "" ? <span class="muted"> · no reason given</span> : <span class="reason"> · “{c.reason}”</span>}
    </span>
  );
}

export function HistoryPage(): JSX.Element {
  const { params } = useLocation();
  const status = params.get("status") ?? "";
  const since = params.get("since") ?? "";
  const queue = params.get("queue") ?? "";
  const owner = params.get("owner") ?? "";
  const name = params.get("name") ?? "";
  const label = params.get("label") ?? "";
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [page, setPage] = useState<{ items: Job[]; next: string | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const now = useNow(10_000);
  const filterKey = `${status}|${since}|${queue}|${owner}|${name}|${label}`;
  const filtered = status !== "" || since !== "" || queue !== "" || owner !== "" || name !== "" || label !== "";
  const cursor = cursors[cursors.length - 1] ?? null;

  const load = async (signal: AbortSignal): Promise<void> => {
    setError(null);
    try {
      const result = await listJobs(
        { status: status === "" ? finishedStatuses.join(",") : status, queue, owner, name, labels: parseLabelInput(label) ?? [], createdAfter: windowStart(since), limit, cursor },
        signal,
      );
      setPage({ items: result.items, next: result.nextCursor ?? null });
    } catch (e) {
      if (!signal.aborted) setError(e);
    }
  };
  // Live: a job that ends appears on the first page without a reload (later pages stay still while read).
  const refresh = useThrottled(() => {
    if (cursor === null) void load(new AbortController().signal);
  }, 500);
  useEvents({ onEvent: (e) => endings.has(e.type) && refresh(), onReconnect: refresh }, []);

  useEffect(() => setCursors([null]), [filterKey]);
  useEffect(() => {
    const controller = new AbortController();
    setPage(null);
    void load(controller.signal);
    return () => controller.abort();
  }, [filterKey, cursor]);

  const set = (patch: Record<string, string>): void => setParams({ status, since, queue, owner, name, label, ...patch });

  return (
    <section aria-labelledby="history-title">
      <div class="page-head">
        <h1 id="history-title">History</h1>
        <p class="lede">Finished jobs: succeeded, failed, partial and cancelled.</p>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter history">
        <div class="field">
          <label for="h-status">Status</label>
          <select id="h-status" value={status} onChange={(e) => set({ status: e.currentTarget.value })}>
            <option value="">any finished</option>
            {finishedStatuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="h-queue">Queue</label>
          <input id="h-queue" type="search" value={queue} placeholder="any" onChange={(e) => set({ queue: e.currentTarget.value.trim() })} />
        </div>
        <div class="field">
          <label for="h-owner">Owner</label>
          <input id="h-owner" type="search" value={owner} placeholder="anyone" onChange={(e) => set({ owner: e.currentTarget.value.trim() })} />
        </div>
        <SearchFields idPrefix="h" values={{ name, label, since }} onChange={set} />
      </form>

      <ErrorNote error={error} onRetry={() => void load(new AbortController().signal)} />
      {page === null ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : page.items.length === 0 ? (
        <div class="empty">
          <p>No finished jobs{filtered ? " match these filters" : " yet"}{cursors.length > 1 ? " on this page" : ""}.</p>
        </div>
      ) : (
        <table class="table stack" aria-label="Finished jobs">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Ended</th>
              <th scope="col">Ran for</th>
              <th scope="col">Tasks</th>
              <th scope="col">Owner</th>
              <th scope="col">Stopped</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((job) => (
              <tr key={job.id} data-job={job.id} data-status={job.status}>
                <td data-label="Job" class="cell-job">
                  <Link href={`/jobs/${job.id}`} class="job-name">
                    {job.name}
                  </Link>
                  <span class="mono muted small" title={job.id}>
                    {shortId(job.id)} · {job.queue}
                  </span>
                </td>
                <td data-label="Status">
                  <Badge status={job.status} />
                </td>
                <td data-label="Ended">
                  <span title={dateTime(job.finishedAt)}>{ago(job.finishedAt, now)}</span>
                </td>
                <td data-label="Ran for">{job.startedAt === null ? <span class="muted">never started</span> : duration(between(job.startedAt, job.finishedAt))}</td>
                <td data-label="Tasks">{tasksDone(job)} succeeded</td>
                <td data-label="Owner">{job.owner}</td>
                <td data-label="Stopped">
                  <StoppedBy job={job} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" class="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Newer
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button type="button" class="button" disabled={page?.next === null || page?.next === undefined} onClick={() => page?.next && setCursors((c) => [...c, page.next])}>
          Older →
        </button>
      </nav>
    </section>
  );
}
