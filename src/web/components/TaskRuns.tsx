/**
 * The task-run timeline (a Gantt): one row per task, a bar from when it started to when it
 * ended (or now), filled by its final state, and a vertical mark where each stop request
 * landed — so "which tasks ran when, and what the cancel cut short" reads at a glance.
 */
import type { JSX } from "preact";
import type { CancellationRecord, Job } from "../api.ts";
import { duration, parseTime, timeOfDay } from "../format.ts";
import { stateColours } from "./Badge.tsx";

const rowH = 22;
const labelW = 110;
const width = 640;
const axisH = 18;

interface Mark {
  at: number;
  label: string;
}

export function TaskRuns(props: { job: Job; records: CancellationRecord[]; now: number }): JSX.Element | null {
  const { job, now } = props;
  const runs = job.tasks
    .map((task) => ({ task, start: parseTime(task.startedAt), end: parseTime(task.finishedAt) }))
    .filter((r): r is { task: Job["tasks"][number]; start: number; end: number | null } => r.start !== null);
  if (runs.length === 0) return null;
  const marks: Mark[] = [];
  const seen = new Set<string>();
  for (const r of props.records) {
    const at = parseTime(r.requestedAt);
    if (at === null || seen.has(r.id)) continue;
    seen.add(r.id);
    marks.push({ at, label: r.scope === "task" ? `stop of ${r.taskKey ?? "a task"}` : "stop requested" });
  }
  const jobCancel = parseTime(job.cancellation?.requestedAt);
  if (jobCancel !== null && job.cancellation !== null && !seen.has(job.cancellation.id)) marks.push({ at: jobCancel, label: "stop requested" });
  const from = Math.min(parseTime(job.startedAt) ?? Infinity, ...runs.map((r) => r.start));
  const to = Math.max(parseTime(job.finishedAt) ?? 0, ...runs.map((r) => r.end ?? now), ...marks.map((m) => m.at), from + 1000);
  const x = (t: number): number => labelW + ((t - from) / (to - from)) * (width - labelW - 8);
  const height = axisH + runs.length * rowH + 4;
  const summary = runs
    .map((r) => `${r.task.key}: ${r.task.status}, from +${duration(r.start - from)} ${r.end === null ? "and still running" : `for ${duration(r.end - r.start)}`}`)
    .join("; ");
  return (
    <figure class="task-runs">
      <figcaption class="small muted">
        Task runs from {timeOfDay(from)} to {timeOfDay(to)} ({duration(to - from)}){marks.length === 0 ? "" : "; the dashed line is where the stop landed"}.
      </figcaption>
      <div class="graph-scroll">
        <svg class="gantt" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`Task runs: ${summary}${marks.length === 0 ? "" : `; ${marks.map((m) => `${m.label} at +${duration(m.at - from)}`).join("; ")}`}`}>
          <text x={labelW} y={12} class="gantt-axis">
            +0
          </text>
          <text x={width - 8} y={12} class="gantt-axis" text-anchor="end">
            +{duration(to - from)}
          </text>
          {runs.map((r, i) => {
            const y = axisH + i * rowH;
            const colours = stateColours[r.task.status] ?? stateColours["pending"];
            const x1 = x(r.start);
            const x2 = Math.max(x1 + 2, x(r.end ?? now));
            return (
              <g key={r.task.key} class="gantt-row" data-task={r.task.key} data-status={r.task.status}>
                <text x={labelW - 6} y={y + 15} text-anchor="end" class="gantt-label">
                  {r.task.key}
                </text>
                <rect class="run" data-task={r.task.key} x={x1} y={y + 3} width={x2 - x1} height={rowH - 7} rx={3} fill={colours?.fill} stroke={colours?.stroke} stroke-dasharray={r.task.runOn === "cancel" ? "4 2" : undefined}>
                  <title>
                    {r.task.key}: {r.task.status}, {timeOfDay(r.start)} → {r.end === null ? "now" : timeOfDay(r.end)}
                  </title>
                </rect>
              </g>
            );
          })}
          {marks.map((m, i) => (
            <g key={i} class="cancel-mark" data-at={new Date(m.at).toISOString()}>
              <line x1={x(m.at)} x2={x(m.at)} y1={axisH - 4} y2={height} />
              <title>
                {m.label} at {timeOfDay(m.at)}
              </title>
            </g>
          ))}
        </svg>
      </div>
    </figure>
  );
}
