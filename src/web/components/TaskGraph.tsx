/**
 * The job's task graph as SVG: tasks in layers by dependency depth (left to right, or top
 * to bottom when the screen is too narrow), edges drawn from each dependency, each task
 * filled by its state and labelled with the state in words. Compensation tasks
 * (`runOn: "cancel"`) sit in a last layer with a dashed border.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Job } from "../api.ts";
import { percent } from "../format.ts";
import { stateColours, stateIcons } from "./Badge.tsx";

type Task = Job["tasks"][number];

/** Node size; a vertical layout narrows the nodes (down to minW) to fit a phone's width. */
const maxW = 168;
const minW = 116;
const H = 58;

interface Placed {
  task: Task;
  x: number;
  y: number;
}

interface Layout {
  nodes: Placed[];
  width: number;
  height: number;
  /** Node width. */
  w: number;
}

function levels(tasks: Task[]): Map<string, number> {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  const level = new Map<string, number>();
  const visit = (key: string, seen: Set<string>): number => {
    const known = level.get(key);
    if (known !== undefined) return known;
    const task = byKey.get(key);
    if (task === undefined || seen.has(key)) return 0;
    seen.add(key);
    const deps = task.dependsOn.filter((d) => byKey.has(d.key));
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((d) => visit(d.key, seen)));
    level.set(key, value);
    return value;
  };
  for (const t of tasks) visit(t.key, new Set());
  // Compensation tasks run last: their own layer after everything else.
  const normalMax = Math.max(0, ...tasks.filter((t) => t.runOn !== "cancel").map((t) => level.get(t.key) ?? 0));
  for (const t of tasks) if (t.runOn === "cancel") level.set(t.key, Math.max(level.get(t.key) ?? 0, normalMax + 1));
  return level;
}

export function layoutGraph(tasks: Task[], vertical: boolean, available = Infinity): Layout {
  const level = levels(tasks);
  const columns: Task[][] = [];
  for (const t of tasks) {
    const l = level.get(t.key) ?? 0;
    (columns[l] ??= []).push(t);
  }
  // One barycentre pass: place a task near the tasks it depends on.
  const position = new Map<string, number>();
  columns.forEach((column, l) => {
    if (l > 0) {
      const score = (t: Task): number => {
        const ps = t.dependsOn.map((d) => position.get(d.key)).filter((p): p is number => p !== undefined);
        return ps.length === 0 ? Number.MAX_SAFE_INTEGER : ps.reduce((a, b) => a + b, 0) / ps.length;
      };
      column.sort((a, b) => score(a) - score(b));
    }
    column.forEach((t, i) => position.set(t.key, i));
  });
  const gapMain = vertical ? 44 : 56;
  const gapCross = vertical ? 14 : 18;
  const pad = 8;
  const longest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const W = vertical ? Math.max(minW, Math.min(maxW, Math.floor((available - pad * 2 - (longest - 1) * gapCross) / longest))) : maxW;
  const nodes: Placed[] = [];
  columns.forEach((column, l) => {
    // Centre shorter layers against the longest one.
    const shift = ((longest - column.length) * ((vertical ? W : H) + gapCross)) / 2;
    column.forEach((task, i) => {
      const main = pad + l * ((vertical ? H : W) + gapMain);
      const cross = pad + shift + i * ((vertical ? W : H) + gapCross);
      nodes.push(vertical ? { task, x: cross, y: main } : { task, x: main, y: cross });
    });
  });
  const layers = columns.length;
  const mainSize = pad * 2 + layers * (vertical ? H : W) + Math.max(0, layers - 1) * gapMain;
  const crossSize = pad * 2 + longest * (vertical ? W : H) + (longest - 1) * gapCross;
  return { nodes, width: vertical ? crossSize : mainSize, height: vertical ? mainSize : crossSize, w: W };
}

function edgePath(from: Placed, to: Placed, vertical: boolean, W: number): string {
  if (vertical) {
    const x1 = from.x + W / 2;
    const y1 = from.y + H;
    const x2 = to.x + W / 2;
    const y2 = to.y - 2;
    const my = (y1 + y2) / 2;
    return `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`;
  }
  const x1 = from.x + W;
  const y1 = from.y + H / 2;
  const x2 = to.x - 2;
  const y2 = to.y + H / 2;
  const mx = (x1 + x2) / 2;
  return `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function statusLine(task: Task): string {
  const icon = stateIcons[task.status] ?? "•";
  if ((task.status === "running" || task.status === "cancelling") && task.progress !== null) return `${icon} ${task.status} ${percent(task.progress.ratio)}`;
  if (task.status === "failed" && task.exitCode !== null) return `${icon} failed (exit ${task.exitCode})`;
  return `${icon} ${task.status}`;
}

export function TaskGraph(props: { job: Job; selected: string | null; onSelect: (key: string) => void }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [available, setAvailable] = useState(1200);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => setAvailable(el.clientWidth));
    observer.observe(el);
    setAvailable(el.clientWidth);
    return () => observer.disconnect();
  }, []);

  const tasks = props.job.tasks;
  const horizontal = layoutGraph(tasks, false);
  const verticalLayout = layoutGraph(tasks, true, available);
  const vertical = horizontal.width > available && verticalLayout.width < horizontal.width;
  const { nodes, width, height, w: W } = vertical ? verticalLayout : horizontal;
  const chars = Math.floor((W - 18) / 8.2);
  const byKey = new Map(nodes.map((n) => [n.task.key, n]));
  const present = [...new Set(tasks.map((t) => t.status))];

  return (
    <div class="graph">
      <div class="graph-scroll" ref={box}>
        <svg class="graph-svg" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="group" aria-label={`Task graph: ${tasks.length} tasks`}>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" fill="#6c757d" />
            </marker>
          </defs>
          {nodes.flatMap((n) =>
            n.task.dependsOn.map((d) => {
              const from = byKey.get(d.key);
              if (from === undefined) return null;
              return (
                <path key={`${d.key}->${n.task.key}`} class={`edge${d.onCancel === "skip" ? " edge-skip" : ""}`} d={edgePath(from, n, vertical, W)} marker-end="url(#arrow)">
                  <title>{`${n.task.key} depends on ${d.key}${d.onCancel === "skip" ? " (runs even if it is cancelled)" : ""}`}</title>
                </path>
              );
            }),
          )}
          {nodes.map(({ task, x, y }) => {
            const colour = stateColours[task.status] ?? { fill: "#fff", stroke: "#333", text: "#111" };
            const selected = props.selected === task.key;
            const deps = task.dependsOn.map((d) => d.key);
            const label = `Task ${task.key}: ${task.status}${task.progress !== null && task.status === "running" ? ` ${percent(task.progress.ratio)}` : ""}${deps.length === 0 ? "" : `, depends on ${deps.join(", ")}`}${task.runOn === "cancel" ? ", runs only after a cancellation" : ""}`;
            const select = (): void => props.onSelect(task.key);
            return (
              <g
                key={task.key}
                class={`node${selected ? " selected" : ""}`}
                data-task={task.key}
                data-status={task.status}
                transform={`translate(${x},${y})`}
                role="button"
                tabIndex={0}
                aria-label={label}
                aria-pressed={selected}
                onClick={select}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    e.preventDefault();
                    select();
                  }
                }}
              >
                <title>{label}</title>
                <rect
                  width={W}
                  height={H}
                  rx={8}
                  fill={colour.fill}
                  stroke={colour.stroke}
                  stroke-width={selected ? 3 : 1.5}
                  stroke-dasharray={task.runOn === "cancel" || task.status === "cancelling" ? "5 3" : undefined}
                />
                <text x={10} y={22} class="node-key" fill="#212529">
                  {truncate(task.key, chars)}
                </text>
                <text x={10} y={42} class="node-status" fill={colour.text}>
                  {truncate(statusLine(task), Math.floor(chars * 1.25))}
                </text>
                {task.status === "running" && task.progress !== null ? (
                  <rect x={1.5} y={H - 5} width={Math.max(0, (W - 3) * task.progress.ratio)} height={3.5} fill={colour.stroke} />
                ) : null}
              </g>
            );
          })}
        </svg>
      </div>
      <ul class="legend" aria-label="Task states in this graph">
        {present.map((s) => (
          <li key={s}>
            <span class="swatch" style={{ background: stateColours[s]?.fill, borderColor: stateColours[s]?.stroke }} aria-hidden="true" />
            {stateIcons[s]} {s}
          </li>
        ))}
        {tasks.some((t) => t.runOn === "cancel") ? <li>dashed border: compensation task, runs only after the job is cancelled</li> : null}
        {tasks.some((t) => t.dependsOn.some((d) => d.onCancel === "skip")) ? <li>dashed arrow: runs even if the dependency is cancelled</li> : null}
      </ul>
    </div>
  );
}
