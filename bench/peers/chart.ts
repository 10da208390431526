/**
 * A grouped bar chart of the run as SVG text: one panel per figure, one bar per system,
 * on a log scale (the figures span several decades: a pg-boss heartbeat against a thread
 * message). No chart library.
 */
import { fmt } from "../stats.ts";
import { counts, isNa } from "./harness.ts";
import type { Outcome, PeerResult, W3Result } from "./harness.ts";

interface Panel {
  title: string;
  better: "higher" | "lower";
  unit: string;
  value: (r: PeerResult) => number | null;
}

const num = <T extends object>(outcome: Outcome<T>, field: (t: T) => number): number | null => (isNa(outcome) ? null : field(outcome));
const w3num = (outcome: Outcome<W3Result>, field: (t: W3Result) => number): number | null =>
  isNa(outcome) || outcome.measured === 0 ? null : field(outcome);

const panels: Panel[] = [
  { title: "W1 throughput (one by one)", better: "higher", unit: "jobs/s", value: (r) => num(r.w1, (t) => t.jobsPerSec) },
  { title: "W1 drain (pre-queued)", better: "higher", unit: "jobs/s", value: (r) => (r.w1d === undefined ? null : num(r.w1d, (t) => t.jobsPerSec)) },
  { title: "Bulk insert of W1 drain's jobs", better: "higher", unit: "jobs/s", value: (r) => (r.w1d === undefined ? null : num(r.w1d, (t) => t.insertPerSec)) },
  { title: "W2 cancel one queued job, p50", better: "lower", unit: "µs", value: (r) => num(r.w2, (t) => t.p50Us) },
  { title: "W2 cancel all queued (bulk)", better: "lower", unit: "ms", value: (r) => num(r.w2, (t) => t.bulkMs) },
  { title: "W3 running: handler sees abort, p99", better: "lower", unit: "ms", value: (r) => w3num(r.w3, (t) => t.seenP99Ms) },
  { title: "W3 burst: job ended, p99", better: "lower", unit: "ms", value: (r) => (r.w3b === undefined ? null : w3num(r.w3b, (t) => t.endedP99Ms)) },
  { title: "W3 across nodes: sees abort, p99", better: "lower", unit: "ms", value: (r) => w3num(r.w3x, (t) => t.seenP99Ms) },
  { title: `W4 cancel 1 of ${counts.w4Queue.toLocaleString("en-US")} queued, p50`, better: "lower", unit: "µs", value: (r) => num(r.w4, (t) => t.p50Us) },
];

const colors: Record<string, string> = {
  "belay-sqlite": "#1f4e9c",
  "belay-pg": "#5b8fd9",
  "bullmq-redis": "#c0392b",
  "bullmq-pg": "#e67e22",
  "pg-boss": "#27ae60",
  "graphile-worker": "#8e44ad",
};

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function short(value: number): string {
  if (value >= 10_000) return `${fmt(value / 1000, 0)}k`;
  if (value >= 1_000) return `${fmt(value / 1000, 1).replace(/\.0$/, "")}k`;
  if (value >= 10) return fmt(value, 0);
  return fmt(value, value >= 1 ? 1 : 2);
}

export function renderChart(results: PeerResult[], caption: string): string {
  const cols = 3;
  const panelW = 320;
  const panelH = 250;
  const top = 70;
  const rows = Math.ceil(panels.length / cols);
  const width = cols * panelW + 20;
  const height = top + rows * panelH + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Belay and its peers: W1–W4, W1 drain, W3 burst (log scales)</text>`,
    `<text x="10" y="${height - 10}" fill="#555">${escape(caption)}</text>`,
  ];
  results.forEach((r, i) => {
    const x = 10 + (i % 3) * 310;
    const y = 34 + Math.floor(i / 3) * 16;
    out.push(`<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${colors[r.system] ?? "#888"}"/>`, `<text x="${x + 14}" y="${y}">${escape(r.label)}</text>`);
  });
  panels.forEach((panel, p) => {
    const px = 10 + (p % cols) * panelW;
    const py = top + Math.floor(p / cols) * panelH;
    const plotX = px + 40;
    const plotY = py + 42;
    const plotW = panelW - 60;
    const plotH = panelH - 85;
    out.push(`<text x="${px + 4}" y="${py + 14}" font-weight="bold">${escape(panel.title)}</text>`);
    out.push(`<text x="${px + 4}" y="${py + 26}" fill="#555">${panel.unit}, ${panel.better} is better</text>`);
    const values = results.map((r) => panel.value(r));
    const present = values.filter((v): v is number => v !== null && v > 0);
    if (present.length === 0) return;
    let lo = Math.floor(Math.log10(Math.min(...present)));
    let hi = Math.ceil(Math.log10(Math.max(...present)));
    if (hi - lo < 1) hi = lo + 1;
    if (Math.log10(Math.min(...present)) - lo < 0.5) lo -= 1; // keep the shortest bar visible
    const yOf = (v: number): number => plotY + plotH - ((Math.log10(v) - lo) / (hi - lo)) * plotH;
    for (let d = lo; d <= hi; d += 1) {
      const gy = yOf(10 ** d);
      out.push(`<line x1="${plotX}" y1="${gy}" x2="${plotX + plotW}" y2="${gy}" stroke="#ddd"/>`);
      out.push(`<text x="${plotX - 4}" y="${gy + 4}" text-anchor="end" fill="#555">${short(10 ** d)}</text>`);
    }
    const slot = plotW / results.length;
    values.forEach((v, i) => {
      const bx = plotX + i * slot + slot * 0.15;
      const bw = slot * 0.7;
      const system = results[i]?.system ?? "";
      if (v === null || v <= 0) {
        out.push(`<text x="${bx + bw / 2}" y="${plotY + plotH - 4}" text-anchor="middle" fill="#888">n/a</text>`);
        return;
      }
      const by = yOf(v);
      out.push(`<rect x="${bx}" y="${by}" width="${bw}" height="${plotY + plotH - by}" fill="${colors[system] ?? "#888"}"/>`);
      out.push(`<text x="${bx + bw / 2}" y="${by - 3}" text-anchor="middle">${short(v)}</text>`);
    });
    out.push(`<line x1="${plotX}" y1="${plotY + plotH}" x2="${plotX + plotW}" y2="${plotY + plotH}" stroke="#333"/>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
