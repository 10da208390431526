/** The history of cancellation records, filterable by status and job, with each record's full timeline on demand. */
import { Fragment } from "preact";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { belay } from "../api.ts";
import type { CancellationRecord } from "../api.ts";
import { Badge } from "../components/Badge.tsx";
import { ErrorNote } from "../components/Notice.tsx";
import { CancellationTimeline } from "../components/Timeline.tsx";
import { ago, between, duration, shortId } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { Link, setParams, useLocation } from "../router.tsx";

const limit = 20;
const statuses = ["in_progress", "completed", "partial", "failed", "too_late"];
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Records that did not do all they set out to: they need a person's eye. */
const attention: Record<string, string> = {
  partial: "Partial: some steps did not succeed (e.g. a cleanup, or a remote cancel that was not confirmed)",
  failed: "Failed: the cancellation could not be carried out",
};

function scopeText(r: CancellationRecord): string {
  if (r.scope === "bulk") return r.progress === null ? "several jobs" : `${r.progress.total} jobs`;
  if (r.scope === "task") return `task ${r.taskKey ?? "?"}${r.cascade ? " + dependents" : " only"}`;
  return "whole job";
}

export function CancellationsPage(): JSX.Element {
  const { params } = useLocation();
  const status = params.get("status") ?? "";
  const jobId = params.get("job") ?? "";
  const offset = Math.max(0, Number(params.get("offset") ?? "0") || 0);
  const [jobInput, setJobInput] = useState(jobId);
  const [page, setPage] = useState<{ items: CancellationRecord[]; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  /** Job names by id: a record holds only the id; a person looks for the name. */
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const asked = useRef<Set<string>>(new Set());
  const now = useNow(5000);
  const jobValid = jobId === "" || uuid.test(jobId);

  const load = async (): Promise<void> => {
    if (!jobValid) return;
    try {
      const result = await belay.listCancellations({ status, jobId, limit, offset });
      setError(null);
      setPage({ items: result.items, total: result.total ?? result.items.length });
    } catch (e) {
      setError(e);
    }
  };
  const refresh = useThrottled(() => void load(), 500);
  useEffect(() => {
    const missing = [...new Set((page?.items ?? []).map((r) => r.jobId).filter((id): id is string => id !== null && !asked.current.has(id)))];
    if (missing.length === 0) return;
    missing.forEach((id) => asked.current.add(id));
    void Promise.all(missing.map((id) => belay.getJob(id).then((j) => [id, j.name] as const).catch(() => null))).then((found) => {
      const known = found.filter((f): f is readonly [string, string] => f !== null);
      if (known.length > 0) setNames((old) => new Map([...old, ...known]));
    });
  }, [page]);
  useEffect(() => setJobInput(jobId), [jobId]);
  useEffect(() => {
    setPage(null);
    void load();
  }, [status, jobId, offset]);
  // New records and steps arrive as events: keep the page current.
  useEvents(
    {
      onEvent: (e) => {
        if (e.type === "belay.cancellation.step" || e.type === "belay.job.cancel_requested" || e.type === "belay.job.cancelled") refresh();
      },
      onReconnect: refresh,
    },
    [],
  );

  const set = (patch: Record<string, string | number>): void => setParams({ status, job: jobId, offset: 0, ...patch });

  return (
    <section aria-labelledby="cancellations-title">
      <div class="page-head">
        <h1 id="cancellations-title">Cancellations</h1>
        <p class="lede">Every stop request and what it did, step by step.</p>
      </div>
      <form
        class="filters"
        aria-label="Filter cancellations"
        onSubmit={(e) => {
          e.preventDefault();
          set({ job: jobInput.trim() });
        }}
      >
        <div class="field">
          <label for="c-status">Status</label>
          <select id="c-status" value={status} onChange={(e) => set({ status: e.currentTarget.value })}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s.replace("_", " ")}
              </option>
            ))}
          </select>
        </div>
        <div class="field grow">
          <label for="c-job">Job id</label>
          <input id="c-job" type="search" value={jobInput} placeholder="any job" onInput={(e) => setJobInput(e.currentTarget.value)} onChange={(e) => set({ job: e.currentTarget.value.trim() })} />
        </div>
      </form>
      {jobValid ? null : (
        <div class="note note-error" role="alert">
          “{jobId}” is not a job id: a job id looks like 01a1fd6f-cf0f-744d-9d92-4c69287c5428.
        </div>
      )}
      <ErrorNote error={error} onRetry={() => void load()} />

      {!jobValid ? null : page === null ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : page.items.length === 0 ? (
        <div class="empty">
          <p>No cancellations{status === "" && jobId === "" ? " yet" : " match these filters"}.</p>
        </div>
      ) : (
        <table class="table stack" aria-label="Cancellation records">
          <thead>
            <tr>
              <th scope="col">Requested</th>
              <th scope="col">Status</th>
              <th scope="col">What</th>
              <th scope="col">Job</th>
              <th scope="col">By</th>
              <th scope="col">Reason</th>
              <th scope="col">Took</th>
              <th scope="col">
                <span class="visually-hidden">Details</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((r) => (
              <Fragment key={r.id}>
                <tr data-cancellation={r.id} data-status={r.status} class={attention[r.status] === undefined ? "" : "needs-attention"}>
                  <td data-label="Requested">
                    <span title={r.requestedAt}>{ago(r.requestedAt, now)}</span>
                  </td>
                  <td data-label="Status">
                    <Badge status={r.status} />
                    {attention[r.status] === undefined ? null : (
                      <span class="attention-marker" title={attention[r.status]}>
                        <span aria-hidden="true">⚠ </span>
                        {r.status === "partial" ? "needs a look" : "did not stop"}
                      </span>
                    )}
                  </td>
                  <td data-label="What">
                    {scopeText(r)}
                    {r.force ? <span class="tag">forced</span> : null}
                  </td>
                  <td data-label="Job">
                    {r.jobId === null ? (
                      <span class="muted">—</span>
                    ) : (
                      <>
                        <Link href={`/jobs/${r.jobId}`} class="job-name">
                          {names.get(r.jobId) ?? shortId(r.jobId)}
                        </Link>
                        {names.has(r.jobId) ? (
                          <span class="mono muted small block" title={r.jobId}>
                            {shortId(r.jobId)}
                          </span>
                        ) : null}
                      </>
                    )}
                  </td>
                  <td data-label="By">{r.requestedBy}</td>
                  <td data-label="Reason" class="cell-reason">
                    {r.reason === null || r.reason === "" ? <span class="muted">none given</span> : r.reason}
                  </td>
                  <td data-label="Took">{r.completedAt === null ? `${duration(between(r.requestedAt, null, now))} so far` : duration(r.durationMs)}</td>
                  <td class="cell-actions">
                    <button type="button" class="button small" aria-expanded={open === r.id} aria-controls={`rec-${r.id}`} onClick={() => setOpen(open === r.id ? null : r.id)}>
                      {open === r.id ? "Hide steps" : "Steps"}
                    </button>
                  </td>
                </tr>
                {open === r.id ? (
                  <tr class="detail-row">
                    <td colSpan={8} id={`rec-${r.id}`}>
                      <CancellationTimeline record={r} showJob />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {page === null || page.total <= limit ? null : (
        <nav class="pager" aria-label="Pages">
          <button type="button" class="button" disabled={offset === 0} onClick={() => set({ offset: Math.max(0, offset - limit) })}>
            ← Newer
          </button>
          <span class="muted">
            {offset + 1}–{Math.min(offset + limit, page.total)} of {page.total}
          </span>
          <button type="button" class="button" disabled={offset + limit >= page.total} onClick={() => set({ offset: offset + limit })}>
            Older →
          </button>
        </nav>
      )}
      {page !== null && page.total > 0 && page.total <= limit ? <p class="muted small">{page.total === 1 ? "1 record" : `${page.total} records`}</p> : null}
    </section>
  );
}
