/** Plain-text formatting for people: aligned tables, times, durations. Status words carry the meaning; colour (style.ts) only repeats it. */
import { stripVTControlCharacters } from "node:util";
import type { Json } from "../core/model.ts";

/** Width on screen: colour escapes take none. */
function visible(text: string): number {
  return stripVTControlCharacters(text).length;
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ""))));
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(Math.max(0, (widths[i] ?? 0) - visible(cell)))))
      .join("  ")
      .trimEnd();
  return [render(headers), ...rows.map(render)].join("\n");
}

/** `key  value` lines with the keys aligned. */
export function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** An ISO time without milliseconds, or "-". */
export function time(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return "-";
  return iso.replace(/\.\d+Z$/, "Z");
}

/** Clock time of day with milliseconds, for live output. */
export function clock(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return "--:--:--.---";
  return new Date(iso).toISOString().slice(11, 23);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return minutes < 60 ? `${minutes}m ${String(seconds).padStart(2, "0")}s` : `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** Milliseconds from one ISO time to another, or null. */
export function between(from: string | null | undefined, to: string | null | undefined): number | null {
  if (from === null || from === undefined || to === null || to === undefined) return null;
  return Date.parse(to) - Date.parse(from);
}

/** `+12 ms` from a reference time; `-9.47 s` for a time before it (a task that ended before the cancel). */
export function offset(from: string | null | undefined, to: string | null | undefined): string {
  const ms = between(from, to);
  if (ms === null) return "-";
  return ms < 0 ? `-${duration(-ms)}` : `+${duration(ms)}`;
}

/** A step's or event's detail as `key=value` pairs. */
export function detail(value: Record<string, Json> | null | undefined): string {
  if (value === null || value === undefined) return "";
  return Object.entries(value)
    .filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}

export function labels(value: Record<string, string>): string {
  const entries = Object.entries(value);
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? "-" : `${Math.round(ratio * 100)}%`;
}

export function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}
