/**
 * The comparison table: Belay beside each peer, the ratio, and the issue's targets.
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

// ---- issue 19: the one-run table and its targets --------------------------------------------

/** A W3 round's figure as text: "p50 / p99" in ms, or why there is none. */
function w3Pair(outcome: Outcome<W3Result> | undefined, p50: (t: W3Result) => number, p99: (t: W3Result) => number): string {
  if (outcome === undefined) return "not run";
  if (isNa(outcome)) return outcome.na;
  if (outcome.measured === 0) return "no cancel observed";
  const partial = outcome.measured < outcome.n ? ` (${outcome.measured} of ${outcome.n})` : "";
  return `${fmt(p50(outcome), 1)} / ${fmt(p99(outcome), 1)}${partial}`;
}

function outcomeText<T extends object>(outcome: Outcome<T> | undefined, text: (t: T) => string): string {
  if (outcome === undefined) return "not run";
  return isNa(outcome) ? outcome.na : text(outcome);
}

/**
 * Every system on one row each: both W1 rounds (submitted one by one; drained after a bulk
 * insert, with the insert's own rate), W2, W4, and the four W3 rounds (one at a time and
 * burst, in the handlers' process and across nodes). Times in ms.
 */
export function oneRunTable(results: PeerResult[]): { header: string[]; cells: string[][] } {
  const header = [
    "system",
    "load average",
    "W1 jobs/s (one by one)",
    "W1 drain jobs/s",
    "bulk insert jobs/s",
    "W2 cancel p50 / p99 ms",
    "W2 bulk ms",
    "W4 p50 / p99 ms",
    "W3 sees abort p50 / p99 ms",
    "W3 job ended p50 / p99 ms",
    "W3 burst: sees abort p50 / p99 ms",
    "W3 burst: job ended p50 / p99 ms",
    "W3 across nodes: sees abort p50 / p99 ms",
    "W3 across nodes: job ended p50 / p99 ms",
    "W3 burst across nodes: sees abort p50 / p99 ms",
    "W3 burst across nodes: job ended p50 / p99 ms",
  ];
  const seen = (o: Outcome<W3Result> | undefined): string => w3Pair(o, (t) => t.seenP50Ms, (t) => t.seenP99Ms);
  const ended = (o: Outcome<W3Result> | undefined): string => w3Pair(o, (t) => t.endedP50Ms, (t) => t.endedP99Ms);
  const cells = results.map((r) => [
    `${r.label} (${r.version})`,
    r.loadAverage === undefined ? "" : `${fmt(r.loadAverage[0], 1)} → ${fmt(r.loadAverage[1], 1)}`,
    outcomeText(r.w1, (t) => fmt(t.jobsPerSec, 0)),
    outcomeText(r.w1d, (t) => fmt(t.jobsPerSec, 0)),
    outcomeText(r.w1d, (t) => fmt(t.insertPerSec, 0)),
    outcomeText(r.w2, (t) => `${fmt(t.p50Us / 1000, 2)} / ${fmt(t.p99Us / 1000, 2)}`),
    outcomeText(r.w2, (t) => fmt(t.bulkMs, 0)),
    outcomeText(r.w4, (t) => `${fmt(t.p50Us / 1000, 2)} / ${fmt(t.p99Us / 1000, 2)}`),
    seen(r.w3),
    ended(r.w3),
    seen(r.w3b),
    ended(r.w3b),
    seen(r.w3x),
    ended(r.w3x),
    seen(r.w3xb),
    ended(r.w3xb),
  ]);
  return { header, cells };
}

export type TargetMet = "yes" | "**no**" | "n/a" | "not here";

export interface TargetRow {
  store: string;
  target: string;
  belay: string;
  reference: string;
  /** Belay's figure against the target's bound: a ratio, or the absolute value. */
  ratio: string;
  met: TargetMet;
}

/** A measured figure, or why there is none; `incomplete` when a W3 round missed some cancels. */
interface Figure {
  value: number | null;
  text: string;
  incomplete: boolean;
}

const missing = (why: string): Figure => ({ value: null, text: why, incomplete: false });

function figureOf<T extends object>(outcome: Outcome<T> | undefined, field: (t: T) => number, unit: string, digits: number): Figure {
  if (outcome === undefined) return missing("not run");
  if (isNa(outcome)) return missing(outcome.na);
  const value = field(outcome);
  return { value, text: `${fmt(value, digits)} ${unit}`, incomplete: false };
}

function w3Figure(outcome: Outcome<W3Result> | undefined, field: (t: W3Result) => number): Figure {
  if (outcome !== undefined && !isNa(outcome)) {
    if (outcome.measured === 0) return missing("no cancel observed");
    const value = field(outcome);
    const incomplete = outcome.measured < outcome.n;
    return { value, text: `${fmt(value, 1)} ms${incomplete ? ` (${outcome.measured} of ${outcome.n} observed)` : ""}`, incomplete };
  }
  return figureOf(outcome, field, "ms", 1);
}

/** The peer with the best figure (lowest time, highest rate) among those measured. */
function best(peers: PeerResult[], get: (r: PeerResult) => Figure, better: "lower" | "higher"): { peer: PeerResult; figure: Figure } | null {
  let found: { peer: PeerResult; figure: Figure } | null = null;
  for (const peer of peers) {
    const figure = get(peer);
    if (figure.value === null) continue;
    if (found === null || (better === "lower" ? figure.value < (found.figure.value as number) : figure.value > (found.figure.value as number))) found = { peer, figure };
  }
  return found;
}

/**
 * Belay's figure against a peer's: `limit` is how many times the peer's figure Belay may
 * reach (times: Belay ≤ limit × peer) or must reach (rates: Belay ≥ limit × peer).
 */
function against(store: string, target: string, belay: Figure, reference: { peer: PeerResult; figure: Figure } | null, better: "lower" | "higher", limit: number, what: string): TargetRow {
  if (reference === null) return { store, target, belay: belay.text, reference: `no ${what} measured`, ratio: "—", met: "n/a" };
  const peerValue = reference.figure.value as number;
  const referenceText = `${reference.peer.label}: ${reference.figure.text}`;
  if (belay.value === null) return { store, target, belay: belay.text, reference: referenceText, ratio: "—", met: "n/a" };
  const ratio = belay.value / peerValue;
  const ok = better === "lower" ? ratio <= limit : ratio >= limit;
  return { store, target, belay: belay.text, reference: referenceText, ratio: `Belay ÷ peer = ${fmt(ratio, ratio < 10 ? 2 : 1)}×`, met: ok && !belay.incomplete ? "yes" : "**no**" };
}

function absolute(store: string, target: string, belay: Figure, bound: number): TargetRow {
  if (belay.value === null) return { store, target, belay: belay.text, reference: "", ratio: "—", met: "n/a" };
  return { store, target, belay: belay.text, reference: "", ratio: "", met: belay.value <= bound && !belay.incomplete ? "yes" : "**no**" };
}

const w1d = (r: PeerResult): Figure => figureOf(r.w1d, (t) => t.jobsPerSec, "jobs/s", 0);
const insertTime = (r: PeerResult): Figure => figureOf(r.w1d, (t) => t.insertMs, "ms", 0);
const w2p50 = (r: PeerResult): Figure => figureOf(r.w2, (t) => t.p50Us / 1000, "ms", 3);
const w2p99 = (r: PeerResult): Figure => figureOf(r.w2, (t) => t.p99Us / 1000, "ms", 3);
const w2bulk = (r: PeerResult): Figure => figureOf(r.w2, (t) => t.bulkMs, "ms", 1);
const burstSeenP99 = (r: PeerResult): Figure => w3Figure(r.w3b, (t) => t.seenP99Ms);
const burstEndedP99 = (r: PeerResult): Figure => w3Figure(r.w3b, (t) => t.endedP99Ms);

/** The issue's targets that need another benchmark: listed so that the table is the whole list. */
const elsewhere: Array<{ store: string; target: string; how: string }> = [
  { store: "HTTP", target: "a queued cancel's p50 ≤ 1.5× a bare loopback HTTP round trip", how: "`npm run bench` (HTTP rounds)" },
  { store: "HTTP", target: "server CPU per submit ≤ 2× `engine.submit`'s own", how: "`npm run bench -- H2`" },
  { store: "HTTP", target: "mixed load ≥ 1,000 requests/s at p99 ≤ 50 ms, server RSS ≤ 200 MB", how: "`npm run load -- --duration 90`" },
  { store: "both", target: "durability and semantics unchanged (invariants, crash tests, conformance)", how: "the test suite" },
];

/** Issue 19's targets, each from this run's figures (ratios of the same run). */
export function targetRows(results: PeerResult[]): TargetRow[] {
  const bySystem = new Map(results.map((r) => [r.system, r]));
  const get = (system: string): PeerResult | undefined => bySystem.get(system);
  const present = (systems: string[]): PeerResult[] => systems.map(get).filter((r): r is PeerResult => r !== undefined);
  const sqlite = get("belay-sqlite");
  const pgBelay = get("belay-pg");
  const bullmq = present(["bullmq-redis"]);
  const pgPeers = present(["bullmq-pg", "pg-boss", "graphile-worker"]);
  const allPeers = present(["bullmq-redis", "bullmq-pg", "pg-boss", "graphile-worker"]);
  const belayFigure = (r: PeerResult | undefined, f: (r: PeerResult) => Figure): Figure => (r === undefined ? missing("not run") : f(r));
  const E = "embedded";
  const P = "PostgreSQL";
  const B = "bulk submit";
  const rows: TargetRow[] = [
    against(E, "W1 drain ≥ BullMQ on Redis", belayFigure(sqlite, w1d), best(bullmq, w1d, "higher"), "higher", 1, "BullMQ (Redis) W1 drain"),
    against(E, `W2 bulk ${counts.w2Jobs.toLocaleString("en-US")} ≤ BullMQ's \`drain()\``, belayFigure(sqlite, w2bulk), best(bullmq, w2bulk, "lower"), "lower", 1, "BullMQ (Redis) bulk"),
    against(E, "W3 burst: sees-abort p99 ≤ BullMQ's", belayFigure(sqlite, burstSeenP99), best(bullmq, burstSeenP99, "lower"), "lower", 1, "BullMQ (Redis) W3 burst"),
    against(E, "W3 burst: job-ended p99 ≤ BullMQ's", belayFigure(sqlite, burstEndedP99), best(bullmq, burstEndedP99, "lower"), "lower", 1, "BullMQ (Redis) W3 burst"),
    against(E, "W2 one by one stays ≤ BullMQ: p50", belayFigure(sqlite, w2p50), best(bullmq, w2p50, "lower"), "lower", 1, "BullMQ (Redis) W2"),
    against(E, "W2 one by one stays ≤ BullMQ: p99", belayFigure(sqlite, w2p99), best(bullmq, w2p99, "lower"), "lower", 1, "BullMQ (Redis) W2"),
    against(P, "W1 drain ≥ graphile-worker", belayFigure(pgBelay, w1d), best(present(["graphile-worker"]), w1d, "higher"), "higher", 1, "graphile-worker W1 drain"),
    against(P, "W1 drain ≥ 2× graphile-worker (stretch)", belayFigure(pgBelay, w1d), best(present(["graphile-worker"]), w1d, "higher"), "higher", 2, "graphile-worker W1 drain"),
    against(P, "W2 one by one p50 ≤ the fastest PostgreSQL peer", belayFigure(pgBelay, w2p50), best(pgPeers, w2p50, "lower"), "lower", 1, "PostgreSQL peer W2"),
    against(P, "W2 bulk ≤ the fastest PostgreSQL peer", belayFigure(pgBelay, w2bulk), best(pgPeers, w2bulk, "lower"), "lower", 1, "PostgreSQL peer bulk"),
  ];
  // W4 against Belay's own W2 on the same store.
  const w4p50 = belayFigure(pgBelay, (r) => figureOf(r.w4, (t) => t.p50Us / 1000, "ms", 3));
  const ownW2 = belayFigure(pgBelay, w2p50);
  if (w4p50.value === null || ownW2.value === null) rows.push({ store: P, target: "W4 p50 ≤ 1.5× W2 p50", belay: w4p50.text, reference: `W2 p50 ${ownW2.text}`, ratio: "—", met: "n/a" });
  else {
    const ratio = w4p50.value / ownW2.value;
    rows.push({ store: P, target: "W4 p50 ≤ 1.5× W2 p50", belay: w4p50.text, reference: `Belay's W2 p50: ${ownW2.text}`, ratio: `W4 ÷ W2 = ${fmt(ratio, 2)}×`, met: ratio <= 1.5 ? "yes" : "**no**" });
  }
  rows.push(
    absolute(P, "W3 across nodes, one at a time: sees-abort p99 ≤ 20 ms", belayFigure(pgBelay, (r) => w3Figure(r.w3x, (t) => t.seenP99Ms)), 20),
    absolute(P, "W3 burst across nodes: job-ended p99 ≤ 100 ms", belayFigure(pgBelay, (r) => w3Figure(r.w3xb, (t) => t.endedP99Ms)), 100),
    // The peers have no embedded store: Belay on SQLite is held to the fastest peer of all.
    against(B, "SQLite: bulk submit of W1 drain's jobs ≤ 2× the fastest peer's bulk insert (no peer is embedded: the fastest of all)", belayFigure(sqlite, insertTime), best(allPeers, insertTime, "lower"), "lower", 2, "peer bulk insert"),
    against(B, "PostgreSQL: bulk submit of W1 drain's jobs ≤ 2× the fastest PostgreSQL peer's bulk insert", belayFigure(pgBelay, insertTime), best(pgPeers, insertTime, "lower"), "lower", 2, "PostgreSQL peer bulk insert"),
    ...elsewhere.map((e): TargetRow => ({ store: e.store, target: e.target, belay: `measured by ${e.how}`, reference: "", ratio: "", met: "not here" })),
  );
  return rows;
}

export const targetHeader = ["store", "target (issue 19)", "Belay", "reference (same run)", "ratio", "met?"];

export function targetCells(rows: TargetRow[]): string[][] {
  return rows.map((r) => [r.store, r.target, r.belay, r.reference, r.ratio, r.met]);
}
