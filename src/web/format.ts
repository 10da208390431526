/** Times, durations and numbers as people read them. */

export function parseTime(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** "4 s", "3 min", "2 h 5 min", "3 d"; `coarse` drops the milliseconds of a running clock. */
export function duration(ms: number | null, coarse = false): string {
  if (ms === null || !Number.isFinite(ms)) return "—";
  if (ms < 0) ms = 0;
  if (coarse && ms < 10_000) return `${Math.floor(ms / 1000)} s`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 === 0 || m >= 10 ? "" : ` ${s % 60} s`}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 === 0 ? "" : ` ${m % 60} min`}`;
  return `${Math.floor(h / 24)} d`;
}

export function between(from: string | null | undefined, to: string | null | undefined, now = Date.now()): number | null {
  const a = parseTime(from);
  if (a === null) return null;
  const b = to === null || to === undefined ? now : parseTime(to);
  return b === null ? null : b - a;
}

/** "just now", "12 s ago", "3 min ago", else a date. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  const t = parseTime(iso);
  if (t === null) return "—";
  const ms = now - t;
  if (ms < 5_000) return "just now";
  if (ms < 7 * 24 * 3600_000) return `${duration(ms).replace(/ \d+ (s|min)$/, "")} ago`;
  return dateTime(iso);
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/**
 * The one way the UI writes a time of day: 24-hour "21:44:37" (with `.123` when `ms`),
 * whatever the browser's locale — a page never mixes "9:44 PM" with "21:44".
 */
export function timeOfDay(t: number, ms = false): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${ms ? `.${pad(d.getMilliseconds(), 3)}` : ""}`;
}

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "21:44:37" today, else "6 Dec 2026 21:44:37". */
export function dateTime(iso: string | null | undefined, now = Date.now()): string {
  const t = parseTime(iso);
  if (t === null) return "—";
  const d = new Date(t);
  if (d.toDateString() === new Date(now).toDateString()) return timeOfDay(t);
  return `${d.getDate()} ${months[d.getMonth()] ?? ""} ${d.getFullYear()} ${timeOfDay(t)}`;
}

/** A clock time with milliseconds, for cancellation steps. */
export function clock(iso: string | null | undefined): string {
  const t = parseTime(iso);
  return t === null ? "—" : timeOfDay(t, true);
}

/** "+1.204 s" (or "−9.866 s", before it) relative to a reference time. */
export function offset(iso: string | null | undefined, from: string | null | undefined): string {
  const ms = between(from, iso ?? null);
  if (ms === null || iso === null || iso === undefined) return "—";
  const sign = ms < 0 ? "−" : "+";
  const abs = Math.abs(ms);
  return abs < 1000 ? `${sign}${abs} ms` : `${sign}${(abs / 1000).toFixed(3)} s`;
}

export function percent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  return `${Math.round(ratio * 100)}%`;
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(6)));
}
