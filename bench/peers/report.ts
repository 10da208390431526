/**
 * The comparison table: Belay beside each peer, the ratio, and the targets.
 * A ratio is Belay's advantage: peer ÷ Belay for times, Belay ÷ peer for throughput, so
 * above 1× Belay is ahead and below 1× it is behind.
 */
import { fmt } from "../stats.ts";
import { counts, isNa } from "./harness.ts";
import type { Outcome, PeerResult, W1Result, W2Result, W3Result, W4Result } from "./harness.ts";

export type Met = "yes" | "**no**" | "n/a" | "";

export interface ComparisonRow {
  section: string;
  figure: string;
  belay: string;
  peer: string;
  peerValue: string;
  ratio: string;
  target: string;
  met: Met;
}

type Value = number | { na: string };

const queueSize = counts.w4Queue.toLocaleString("en-US");

interface FigureSpec {
  figure: string;
  unit: string;
  digits: number;
  better: "higher" | "lower";
  value: (r: PeerResult) => Value;
  /** The target against this peer: minimum ratio, or null for none. */
  minRatio: (peer: string) => number | null;
}

function pick<T extends object>(outcome: Outcome<T>, field: (t: T) => number): Value {
  return isNa(outcome) ? outcome : field(outcome);
}

const w1 = (r: PeerResult): Outcome<W1Result> => r.w1;
const w2 = (r: PeerResult): Outcome<W2Result> => r.w2;
const w3 = (r: PeerResult): Outcome<W3Result> => r.w3;
const w3x = (r: PeerResult): Outcome<W3Result> => r.w3x;
const w4 = (r: PeerResult): Outcome<W4Result> => r.w4;

/** A W3 outcome with nothing measured counts as not available. */
function w3Value(outcome: Outcome<W3Result>, field: (t: W3Result) => number): Value {
  if (isNa(outcome)) return outcome;
  if (outcome.measured === 0) return { na: "no cancel observed" };
  return field(outcome);
}

const isBullmq = (peer: string): boolean => peer.startsWith("bullmq");
const none = (): null => null;

/** Embedded: W2 and W4 ≥ 5× the fastest peer, W1 ahead of every peer, W3 ≥ 2× BullMQ's in-process cancel. */
const embeddedFigures: FigureSpec[] = [
  { figure: "W1 throughput, jobs/s", unit: "jobs/s", digits: 0, better: "higher", value: (r) => pick(w1(r), (t) => t.jobsPerSec), minRatio: () => 1 },
  { figure: "W2 cancel queued, one by one, p50", unit: "µs", digits: 0, better: "lower", value: (r) => pick(w2(r), (t) => t.p50Us), minRatio: () => 5 },
  { figure: "W2 cancel queued, one by one, p99", unit: "µs", digits: 0, better: "lower", value: (r) => pick(w2(r), (t) => t.p99Us), minRatio: none },
  { figure: "W2 cancel all queued (bulk)", unit: "ms", digits: 1, better: "lower", value: (r) => pick(w2(r), (t) => t.bulkMs), minRatio: () => 5 },
  { figure: "W3 cancel running → handler sees abort, p50", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3(r), (t) => t.seenP50Ms), minRatio: (p) => (isBullmq(p) ? 2 : null) },
  { figure: "W3 cancel running → handler sees abort, p99", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3(r), (t) => t.seenP99Ms), minRatio: (p) => (isBullmq(p) ? 2 : null) },
  { figure: "W3 cancel running → job ended, p99", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3(r), (t) => t.endedP99Ms), minRatio: none },
  { figure: `W4 cancel 1 of ${queueSize} queued, p50`, unit: "µs", digits: 0, better: "lower", value: (r) => pick(w4(r), (t) => t.p50Us), minRatio: () => 5 },
];

/** PostgreSQL: W1 ≥ 2× graphile-worker, W2/W4 ahead of every peer on the same server. */
const postgresFigures: FigureSpec[] = [
  { figure: "W1 throughput, jobs/s", unit: "jobs/s", digits: 0, better: "higher", value: (r) => pick(w1(r), (t) => t.jobsPerSec), minRatio: (p) => (p === "graphile-worker" ? 2 : null) },
  { figure: "W2 cancel queued, one by one, p50", unit: "µs", digits: 0, better: "lower", value: (r) => pick(w2(r), (t) => t.p50Us), minRatio: () => 1 },
  { figure: "W2 cancel queued, one by one, p99", unit: "µs", digits: 0, better: "lower", value: (r) => pick(w2(r), (t) => t.p99Us), minRatio: none },
  { figure: "W2 cancel all queued (bulk)", unit: "ms", digits: 1, better: "lower", value: (r) => pick(w2(r), (t) => t.bulkMs), minRatio: () => 1 },
  { figure: "W3 same process: cancel → handler sees abort, p99", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3(r), (t) => t.seenP99Ms), minRatio: none },
  { figure: "W3 across nodes: cancel → handler sees abort, p50", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3x(r), (t) => t.seenP50Ms), minRatio: none },
  { figure: "W3 across nodes: cancel → handler sees abort, p99", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3x(r), (t) => t.seenP99Ms), minRatio: none },
  { figure: "W3 across nodes: cancel → job ended, p99", unit: "ms", digits: 2, better: "lower", value: (r) => w3Value(w3x(r), (t) => t.endedP99Ms), minRatio: none },
  { figure: `W4 cancel 1 of ${queueSize} queued, p50`, unit: "µs", digits: 0, better: "lower", value: (r) => pick(w4(r), (t) => t.p50Us), minRatio: () => 1 },
];

function show(value: Value, spec: FigureSpec): string {
  return typeof value === "number" ? `${fmt(value, spec.digits)} ${spec.unit}` : value.na;
}

function ratioOf(belay: number, peer: number, better: "higher" | "lower"): number {
  return better === "higher" ? belay / peer : peer / belay;
}

function targetText(min: number): string {
  return min === 1 ? "ahead (> 1×)" : `≥ ${min}×`;
}

function section(name: string, belay: PeerResult | undefined, peers: PeerResult[], figures: FigureSpec[]): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const spec of figures) {
    const belayValue: Value = belay === undefined ? { na: "not run" } : spec.value(belay);
    for (const peer of peers) {
      const peerValue = spec.value(peer);
      const min = spec.minRatio(peer.system);
      const ratio = typeof belayValue === "number" && typeof peerValue === "number" ? ratioOf(belayValue, peerValue, spec.better) : null;
      let met: Met = "";
      if (min !== null) met = ratio === null ? "n/a" : (min === 1 ? ratio > 1 : ratio >= min) ? "yes" : "**no**";
      rows.push({
        section: name,
        figure: spec.figure,
        belay: show(belayValue, spec),
        peer: peer.label,
        peerValue: show(peerValue, spec),
        ratio: ratio === null ? "—" : `${fmt(ratio, ratio < 10 ? 2 : 1)}×`,
        target: min === null ? "" : targetText(min),
        met,
      });
    }
  }
  return rows;
}

/** Every row of the comparison, the embedded section first. */
export function comparisonRows(results: PeerResult[]): ComparisonRow[] {
  const bySystem = new Map(results.map((r) => [r.system, r]));
  const peersOf = (systems: string[]): PeerResult[] => systems.map((s) => bySystem.get(s)).filter((r): r is PeerResult => r !== undefined);
  const embedded = section("embedded", bySystem.get("belay-sqlite"), peersOf(["bullmq-redis", "bullmq-pg", "pg-boss", "graphile-worker"]), embeddedFigures);
  const belayPg = bySystem.get("belay-pg");
  const postgres = section("PostgreSQL", belayPg, peersOf(["bullmq-pg", "pg-boss", "graphile-worker"]), postgresFigures);
  // The across-nodes target is absolute: no peer reaches a running task from another node in under seconds.
  const across = belayPg === undefined ? { na: "not run" } : w3Value(belayPg.w3x, (t) => t.seenP99Ms);
  postgres.push({
    section: "PostgreSQL",
    figure: "W3 across nodes: cancel → handler sees abort, p99 (absolute)",
    belay: typeof across === "number" ? `${fmt(across, 2)} ms` : across.na,
    peer: "—",
    peerValue: "",
    ratio: "",
    target: "≤ 20 ms",
    met: typeof across === "number" ? (across <= 20 ? "yes" : "**no**") : "n/a",
  });
  return [...embedded, ...postgres];
}

export const comparisonHeader = ["store", "figure", "Belay", "peer", "peer's figure", "Belay's advantage", "target", "met?"];

export function comparisonCells(rows: ComparisonRow[]): string[][] {
  return rows.map((r) => [r.section, r.figure, r.belay, r.peer, r.peerValue, r.ratio, r.target, r.met]);
}

/** Every system's own figures, one row per system. */
export function figureRows(results: PeerResult[]): { header: string[]; cells: string[][] } {
  const header = ["system", "load average", "W1 jobs/s", "W2 p50 / p99 µs", "W2 bulk ms", "W3 sees abort p50 / p99 ms", "W3 ended p50 / p99 ms", "W3 across nodes sees abort p50 / p99 ms", "W4 p50 / p99 µs", "W4 fill s"];
  const pair = (a: number, b: number, digits: number): string => `${fmt(a, digits)} / ${fmt(b, digits)}`;
  const cells = results.map((r) => [
    `${r.label} (${r.version})`,
    r.loadAverage === undefined ? "" : `${fmt(r.loadAverage[0], 1)} → ${fmt(r.loadAverage[1], 1)}`,
    isNa(r.w1) ? r.w1.na : fmt(r.w1.jobsPerSec, 0),
    isNa(r.w2) ? r.w2.na : pair(r.w2.p50Us, r.w2.p99Us, 0),
    isNa(r.w2) ? r.w2.na : fmt(r.w2.bulkMs, 1),
    isNa(r.w3) ? r.w3.na : pair(r.w3.seenP50Ms, r.w3.seenP99Ms, 2),
    isNa(r.w3) ? r.w3.na : pair(r.w3.endedP50Ms, r.w3.endedP99Ms, 2),
    isNa(r.w3x) ? r.w3x.na : pair(r.w3x.seenP50Ms, r.w3x.seenP99Ms, 2),
    isNa(r.w4) ? r.w4.na : pair(r.w4.p50Us, r.w4.p99Us, 0),
    isNa(r.w4) ? r.w4.na : fmt(r.w4.fillS, 1),
  ]);
  return { header, cells };
}
