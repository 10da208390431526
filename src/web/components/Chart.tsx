/**
 * Partial results: numeric fields of progress events (`BELAY_PROGRESS {"energy": -1.2}` or a
 * handler's `ctx.progress({energy})`) drawn as small line charts, one per field and task.
 */
import type { JSX } from "preact";
import { formatNumber, parseTime, timeOfDay } from "../format.ts";

export interface ProgressPoint {
  seq: number;
  time: string;
  /** The task attempt that reported it: a retry or a resume starts a new line. */
  attempt: number;
  ratio: number | null;
  data: Record<string, unknown> | null;
}

/** Fields used as the x axis when present, in this order; otherwise the time of the update. */
const xKeys = ["iteration", "iter", "step", "epoch", "i", "n", "round"];
const ignored = new Set(["ratio", "attempt"]);

export interface Series {
  task: string;
  field: string;
  xLabel: string;
  /** The latest attempt's points. */
  points: Array<{ x: number; y: number }>;
  attempt: number;
  /** Earlier attempts, drawn dashed behind the latest. */
  earlier: Array<Array<{ x: number; y: number }>>;
}

export function numericSeries(byTask: Map<string, ProgressPoint[]>): Series[] {
  const out: Series[] = [];
  for (const [task, points] of byTask) {
    const fields = new Set<string>();
    for (const p of points) for (const [k, v] of Object.entries(p.data ?? {})) if (typeof v === "number" && Number.isFinite(v) && !ignored.has(k)) fields.add(k);
    const xKey = xKeys.find((k) => fields.has(k)) ?? null;
    for (const field of fields) {
      if (field === xKey) continue;
      const runs = new Map<number, Array<{ x: number; y: number }>>();
      for (const p of points) {
        const run = runs.get(p.attempt) ?? [];
        runs.set(p.attempt, run);
        const y = p.data?.[field];
        const x = xKey === null ? parseTime(p.time) : p.data?.[xKey];
        if (typeof y === "number" && Number.isFinite(y) && typeof x === "number" && Number.isFinite(x)) run.push({ x, y });
      }
      const attempts = [...runs.keys()].filter((a) => (runs.get(a)?.length ?? 0) > 0).sort((a, b) => a - b);
      const attempt = attempts[attempts.length - 1];
      if (attempt === undefined) continue;
      out.push({ task, field, xLabel: xKey ?? "time", attempt, points: runs.get(attempt) ?? [], earlier: attempts.slice(0, -1).map((a) => runs.get(a) ?? []) });
    }
  }
  return out.slice(0, 8);
}

export function LineChart(props: { series: Series }): JSX.Element {
  const { series } = props;
  const w = 320;
  const h = 120;
  const left = 8;
  const right = 8;
  const top = 10;
  const bottom = 10;
  const all = [...series.points, ...series.earlier.flat()];
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  let minY = Math.min(...ys);
  let maxY = Math.max(...ys);
  if (minY === maxY) {
    minY -= 1;
    maxY += 1;
  }
  const sx = (x: number): number => left + (maxX === minX ? (w - left - right) / 2 : ((x - minX) / (maxX - minX)) * (w - left - right));
  const sy = (y: number): number => top + (1 - (y - minY) / (maxY - minY)) * (h - top - bottom);
  const line = (points: Array<{ x: number; y: number }>): string => points.map((p, i) => `${i === 0 ? "M" : "L"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
  const latestYs = series.points.map((p) => p.y);
  const last = series.points[series.points.length - 1];
  const first = series.points[0];
  const summary = `${series.field} of task ${series.task}${series.attempt > 1 ? `, attempt ${series.attempt}` : ""}: ${series.points.length} points, from ${formatNumber(first?.y ?? 0)} to ${formatNumber(last?.y ?? 0)} (min ${formatNumber(Math.min(...latestYs))}, max ${formatNumber(Math.max(...latestYs))})${series.earlier.length === 0 ? "" : `; earlier attempts drawn dashed`}`;
  return (
    <figure class="chart" data-field={series.field}>
      <figcaption>
        <strong>{series.field}</strong>{" "}
        <span class="muted">
          · task {series.task}
          {series.attempt > 1 ? `, attempt ${series.attempt}` : ""}
        </span>
        <span class="chart-last">
          last <strong>{formatNumber(last?.y ?? 0)}</strong>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={summary} class="chart-svg">
        <line x1={left} x2={w - right} y1={sy(maxY)} y2={sy(maxY)} class="chart-grid" />
        <line x1={left} x2={w - right} y1={sy(minY)} y2={sy(minY)} class="chart-grid" />
        {series.earlier.map((points, i) => (
          <path key={i} d={line(points)} class="chart-line earlier" />
        ))}
        <path d={line(series.points)} class="chart-line" />
        {last === undefined ? null : <circle cx={sx(last.x)} cy={sy(last.y)} r={3} class="chart-dot" />}
      </svg>
      <div class="chart-axis">
        <span>
          max {formatNumber(Math.max(...latestYs))} · min {formatNumber(Math.min(...latestYs))}
        </span>
        <span>{series.xLabel === "time" ? `${timeOfDay(minX)}–${timeOfDay(maxX)}` : `${series.xLabel} ${formatNumber(minX)}–${formatNumber(maxX)}`}</span>
      </div>
    </figure>
  );
}
