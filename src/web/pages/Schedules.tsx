/**
 * Schedules and queues (DESIGN §7): each schedule with its cron expression, time zone and
 * next run, how its last firing went, and Pause / Resume; below, the queues and whether each
 * dispatches. What the role may not do is not offered (the server decides anyway).
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { belay } from "../api.ts";
import { ErrorNote } from "../components/Notice.tsx";
import { ago, dateTime } from "../format.ts";
import { useEvents, useNow, useThrottled } from "../hooks.ts";
import { listQueues, listSchedules } from "../queries.ts";
import type { Queue, Schedule } from "../queries.ts";
import { Link } from "../router.tsx";
import { canManageSchedule, canPauseQueue, useMe } from "../role.ts";

const overlapWords: Record<Schedule["overlap"], string> = {
  skip: "skip while a run is going",
  allow: "allow overlapping runs",
  cancel_previous: "cancel the previous run",
};

function until(iso: string | null, now: number): string {
  if (iso === null) return "—";
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return "due now";
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `in ${Math.max(1, Math.round(ms / 1000))} s`;
  if (minutes < 120) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `in ${hours} h` : `in ${Math.round(hours / 24)} days`;
}

export function SchedulesPage(): JSX.Element {
  const [schedules, setSchedules] = useState<Schedule[] | null>(null);
  const [queues, setQueues] = useState<Queue[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const now = useNow(5000);
  const me = useMe();

  const load = async (): Promise<void> => {
    try {
      const [s, q] = await Promise.all([listSchedules(), listQueues()]);
      setSchedules(s);
      setQueues(q);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  const refresh = useThrottled(() => void load(), 500);
  useEffect(() => void load(), []);
  // A firing makes a job: its creation is the moment the next run time moves.
  useEvents({ onEvent: (e) => e.type === "belay.job.created" && refresh(), onReconnect: refresh }, []);
  useEffect(() => {
    const timer = setInterval(refresh, 15_000);
    return () => clearInterval(timer);
  }, []);

  const act = async (key: string, run: () => Promise<unknown>): Promise<void> => {
    setBusy(key);
    try {
      await run();
      await load();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section aria-labelledby="schedules-title">
      <div class="page-head">
        <h1 id="schedules-title">Schedules</h1>
        <p class="lede">Jobs submitted on a cron timetable, and the queues they land in. Pause a producer to stop new work at its source.</p>
      </div>
      <ErrorNote error={error} onRetry={() => void load()} />
      {schedules === null ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : schedules.length === 0 ? (
        <div class="empty">
          <p>No schedules yet.</p>
          <p class="muted">
            Create one with <code>belay schedule create NAME JOB-FILE --cron "0 2 * * *" --tz Europe/Oslo</code>.
          </p>
        </div>
      ) : (
        <table class="table stack" aria-label="Schedules">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">When</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
              <th scope="col">Overlap</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr key={s.id} data-schedule={s.id} data-paused={s.paused ? "true" : "false"}>
                <td data-label="Name">
                  <strong>{s.name}</strong>
                  <div class="muted small">{s.owner}</div>
                </td>
                <td data-label="When">
                  <code>{s.cron}</code>
                  <div class="muted small">{s.timeZone}</div>
                </td>
                <td data-label="Next run" class="next-run">
                  {s.paused ? (
                    <span class="badge" data-status="paused" title={s.pausedAt === null ? undefined : `paused by ${s.pausedBy ?? "?"} ${ago(s.pausedAt, now)}`}>
                      paused
                    </span>
                  ) : (
                    <span title={dateTime(s.nextRunAt)}>
                      {dateTime(s.nextRunAt)} <span class="muted small">({until(s.nextRunAt, now)})</span>
                    </span>
                  )}
                </td>
                <td data-label="Last run">
                  {s.lastRunAt === null ? (
                    <span class="muted">never</span>
                  ) : (
                    <span title={s.lastError ?? undefined}>
                      {ago(s.lastRunAt, now)} · {s.lastOutcome?.replace("_", " ") ?? ""}
                      {s.lastJobId === null ? null : (
                        <>
                          {" "}
                          <Link href={`/jobs/${s.lastJobId}`} class="mono">
                            {s.lastJobId.slice(0, 8)}
                          </Link>
                        </>
                      )}
                    </span>
                  )}
                </td>
                <td data-label="Overlap">{overlapWords[s.overlap]}</td>
                <td data-label="Actions">
                  {canManageSchedule(me, s) ? (
                    s.paused ? (
                      <button type="button" class="button primary" disabled={busy !== null} onClick={() => void act(s.id, () => belay.resumeSchedule(s.id))}>
                        Resume<span class="visually-hidden"> {s.name}</span>
                      </button>
                    ) : (
                      <button type="button" class="button" disabled={busy !== null} onClick={() => void act(s.id, () => belay.pauseSchedule(s.id))}>
                        Pause<span class="visually-hidden"> {s.name}</span>
                      </button>
                    )
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2 id="queues-title">Queues</h2>
      {queues === null ? null : (
        <table class="table stack compact" aria-labelledby="queues-title">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">State</th>
              <th scope="col">Waiting</th>
              <th scope="col">Running</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.name} data-queue={q.name} data-paused={q.paused ? "true" : "false"}>
                <td data-label="Queue">{q.name}</td>
                <td data-label="State">
                  {q.paused ? (
                    <span title={`${q.pausedBy ?? ""} ${q.reason ?? ""}`.trim()}>
                      <span class="badge" data-status="paused">
                        paused
                      </span>{" "}
                      <span class="muted small">{q.reason ?? ""}</span>
                    </span>
                  ) : (
                    "dispatching"
                  )}
                </td>
                <td data-label="Waiting">{q.pending}</td>
                <td data-label="Running">{q.running}</td>
                <td data-label="Actions">
                  {canPauseQueue(me) ? (
                    <button type="button" class="button" disabled={busy !== null} onClick={() => void act(`q:${q.name}`, () => (q.paused ? belay.resumeQueue(q.name) : belay.pauseQueue(q.name)))}>
                      {q.paused ? "Resume" : "Pause"}
                      <span class="visually-hidden"> queue {q.name}</span>
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
