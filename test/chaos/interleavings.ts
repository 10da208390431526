/**
 * The engine under random interleavings (issue 17, DESIGN §2): fast-check commands — submit,
 * cancel a job / a task / in bulk, force, resume, wait, crash a node (SIGKILL) and restart it —
 * played against real `belay serve` processes running real processes and handler threads,
 * with the invariants checked after every command and, once everything has ended, in full.
 *
 * The commands name their jobs by index (`job % submitted`), so every generated sequence
 * means something whatever state it meets, and fast-check can shrink a failing one. The
 * servers live across cases (a case's jobs are its own: labelled with its tag); a crash
 * restarts the killed node before the next command.
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import type { BelayClient } from "../../src/client/client.ts";
import { BelayApiError } from "../../src/client/errors.ts";
import type { BelayEvent, Job } from "../../src/core/model.ts";
import type { JobSpecInput } from "../../src/core/spec.ts";
import type { Store } from "../../src/store/store.ts";
import { checkEventLog, InvariantViolation } from "../core/invariants-model.ts";
import { handlers } from "../multinode/cluster.ts";
import { survivors } from "./processes.ts";
import { startServer } from "./server.ts";
import type { ChaosBackend, ChaosServer } from "./server.ts";

export type Kind = "quick" | "graceful" | "stubborn" | "graph" | "retrying" | "failing" | "handler" | "spin" | "failFast";
export const kinds: readonly Kind[] = ["quick", "graceful", "stubborn", "graph", "retrying", "failing", "handler", "spin", "failFast"];

const terminalJob = new Set(["succeeded", "failed", "partial", "cancelled"]);
/** Refusals the table of DESIGN §3 (and resume's rule) promise; anything else is a failure. */
const expectedRefusals = new Set(["JOB_ALREADY_FINISHED", "JOB_NOT_PENDING", "TASK_ALREADY_FINISHED", "JOB_NOT_RESUMABLE"]);

/** A shell loop of n × 50 ms: every task ends by itself within a few seconds. */
const loop = (n: number): string => `i=0; while [ $i -lt ${n} ]; do sleep 0.05; i=$((i+1)); done`;

/** `marker` is in the command line and (inherited by every child) in CHAOS_TAG: processes.ts finds them. */
export function specOf(kind: Kind, tag: string, marker: string): JobSpecInput {
  const env = { CHAOS_TAG: marker };
  const sh = (body: string): string => `: chaos-${marker}; ${body}`;
  const common = { name: kind, labels: { case: tag } };
  switch (kind) {
    case "quick":
      return { ...common, tasks: [{ key: "main", command: sh("echo tick; sleep 0.05"), env }] };
    case "graceful":
      return { ...common, tasks: [{ key: "main", command: sh(`trap 'exit 0' TERM; ${loop(40)}`), env }] };
    case "stubborn":
      return { ...common, graceMs: 200, tasks: [{ key: "main", command: sh(`trap '' TERM; ${loop(40)}`), env }] };
    case "graph":
      return {
        ...common,
        graceMs: 300,
        tasks: [
          { key: "fetch", command: sh("sleep 0.1"), env },
          { key: "build", command: sh(`trap 'exit 0' TERM; ${loop(20)}`), env, dependsOn: ["fetch"] },
          { key: "publish", command: sh("echo published"), env, dependsOn: ["build"] },
          { key: "undo", command: sh("sleep 0.1; echo undone"), env, runOn: "cancel" },
        ],
      };
    case "retrying":
      return { ...common, tasks: [{ key: "main", command: sh('sleep 0.05; [ "$BELAY_ATTEMPT" -gt 1 ]'), env, retries: 1 }] };
    case "failing":
      return { ...common, tasks: [{ key: "main", command: sh("sleep 0.05; exit 3"), env }] };
    case "handler":
      return { ...common, tasks: [{ key: "solve", handler: "converge", input: { steps: 200 } }] };
    case "spin":
      return { ...common, graceMs: 200, tasks: [{ key: "spin", handler: "spin" }] };
    case "failFast":
      return {
        ...common,
        failFast: true,
        tasks: [
          { key: "bad", command: sh("sleep 0.1; exit 1"), env },
          { key: "long", command: sh(`trap 'exit 0' TERM; ${loop(40)}`), env },
        ],
      };
  }
}

/** One node: how to start it again after a crash (as a new node, or with its node id pinned), and the server now running. */
export interface Node {
  backend: ChaosBackend;
  pinned: ChaosBackend;
  server: ChaosServer;
}

/** The same store and home, every start with node id `nodeId`: a restart as the same node. */
export function withNodeId(backend: ChaosBackend, nodeId: string): ChaosBackend {
  return { ...backend, name: backend.name, home: backend.home, serverArgs: () => [...backend.serverArgs(), "--node-id", nodeId], openStore: () => backend.openStore(), dispose: () => backend.dispose() };
}

export interface JobRef {
  id: string;
  kind: Kind;
  marker: string;
  keys: string[];
}

export interface Model {
  tag: string;
  jobs: JobRef[];
  crashes: number;
}

export interface Real {
  nodes: Node[];
  /** Record ids of the cancels the servers accepted, by job (task cancels and bulk children included). */
  accepted: Map<string, Set<string>>;
  /** The record each job attempt's job-scope cancels were answered with: every repeat gets the same (invariant 5). */
  jobRecord: Map<string, string>;
  /** Bulk records: their per-job children are accepted cancels too. */
  bulk: string[];
  ops: string[];
}

function client(real: Real, node: number): BelayClient {
  return real.nodes[node % real.nodes.length]!.server.client;
}

function fail(message: string): never {
  throw new InvariantViolation(message);
}

/** Runs `call`; a refusal the design promises is returned, anything else (5xx, network) fails the case. */
async function answer<T>(what: string, call: () => Promise<T>): Promise<T | { refused: string }> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof BelayApiError && expectedRefusals.has(error.code)) return { refused: error.code };
    fail(`${what}: unexpected ${error instanceof BelayApiError ? `${error.status} ${error.code}: ${error.message}` : String(error)}`);
  }
}

function accept(real: Real, jobId: string, recordId: string): void {
  const set = real.accepted.get(jobId) ?? new Set<string>();
  set.add(recordId);
  real.accepted.set(jobId, set);
}

async function allEvents(c: BelayClient, id: string): Promise<BelayEvent[]> {
  const events: BelayEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await c.getJobEvents(id, { after, limit: 10_000 });
    events.push(...page.items);
    if (page.nextCursor === null) return events;
    after = Number(page.nextCursor);
  }
}

const taskStarted = (e: BelayEvent): boolean => e.type === "belay.task.started" && e.data["compensation"] !== true;

/** Invariant 4 (and 2 for a queued job's cancel): after a job's terminal event, no work task of that attempt starts. */
export function checkNothingStartsAfterEnd(job: Job, events: BelayEvent[]): void {
  let ended = false;
  for (const e of events) {
    if (e.type === "belay.job.resumed") ended = false;
    else if (["belay.job.succeeded", "belay.job.failed", "belay.job.partial", "belay.job.cancelled"].includes(e.type)) ended = true;
    else if (ended && taskStarted(e)) fail(`job ${job.id}: task ${String(e.data["taskKey"])} started (event #${e.seq}) after the job ended`);
  }
}

/** After every command: each job's log is a legal prefix, and a cancelled job has no process left (invariants 1–4). */
export async function checkStep(model: Model, real: Real): Promise<void> {
  const c = client(real, 0);
  for (const ref of model.jobs) {
    const events = await allEvents(c, ref.id);
    const { job } = await c.getJob(ref.id);
    checkEventLog(job, events, { snapshot: false });
    checkNothingStartsAfterEnd(job, events);
    if (job.status === "cancelled") {
      const left = survivors(ref.marker);
      // Invariant 3: cancelled only once every runner has exited.
      if (left.length > 0) fail(`job ${job.id} (${ref.kind}) is cancelled while its processes live: ${left.map((s) => `${s.pid} ${s.cmdline}`).join("; ")}`);
      const live = job.tasks.filter((t) => t.runOn !== "cancel" && !["cancelled", "succeeded", "failed", "skipped"].includes(t.status));
      if (live.length > 0) fail(`job ${job.id} is cancelled with tasks ${live.map((t) => `${t.key}=${t.status}`).join(", ")}`);
    }
  }
}

/**
 * Once the case's commands have run: cancel what still runs, wait for every job to end, then
 * the whole story — each log replayed as one snapshot, every accepted cancel has its one
 * finished record (invariants 5, 7), nothing of the case left alive (3, 7), the store clean.
 */
export async function checkEnd(model: Model, real: Real, store: Store, timeoutMs = 30_000): Promise<void> {
  const c = client(real, 0);
  if (model.jobs.length === 0) return;
  const bulk = await answer("final bulk cancel", () => c.cancelJobs({ filter: { labels: { case: model.tag } }, force: true, reason: "end of case" }));
  if (!("refused" in bulk) && bulk.cancellation !== null) real.bulk.push(bulk.cancellation.id);
  const deadline = Date.now() + timeoutMs;
  let jobs: Job[];
  for (;;) {
    jobs = await Promise.all(model.jobs.map(async (ref) => (await c.getJob(ref.id)).job));
    const open = (await c.listCancellations({ status: "in_progress", limit: 1000 })).items.filter((r) => r.jobId === null || model.jobs.some((j) => j.id === r.jobId));
    if (jobs.every((j) => terminalJob.has(j.status)) && open.length === 0) break;
    if (Date.now() > deadline) {
      fail(
        `${timeoutMs} ms after the final cancel: ${jobs.filter((j) => !terminalJob.has(j.status)).map((j) => `${j.name} ${j.id} ${j.status}`).join(", ") || "every job ended"}; ` +
          `open records: ${open.map((r) => r.id).join(", ") || "none"}`,
      );
    }
    await sleep(50);
  }
  const bulkIds = new Set(real.bulk);
  for (const job of jobs) {
    const ref = model.jobs.find((j) => j.id === job.id)!;
    const events = await allEvents(c, job.id);
    const again = (await c.getJob(job.id)).job;
    if (again.status !== job.status) fail(`job ${job.id} left its terminal status ${job.status} for ${again.status}`);
    checkEventLog(again, events, { snapshot: true });
    checkNothingStartsAfterEnd(again, events);
    const records = (await c.listCancellations({ jobId: job.id, limit: 1000 })).items;
    for (const id of real.accepted.get(job.id) ?? []) {
      const found = records.filter((r) => r.id === id);
      if (found.length !== 1) fail(`job ${job.id}: the accepted cancel ${id} has ${found.length} records`);
    }
    for (const r of records) {
      if (r.status === "in_progress") fail(`record ${r.id} of job ${job.id} is still in_progress`);
      const known = real.accepted.get(job.id)?.has(r.id) === true || (r.parentId !== null && r.parentId !== undefined && bulkIds.has(r.parentId));
      // A system cancel (timeout, stall, failFast) has no answer to compare with.
      if (!known && !r.requestedBy.startsWith("system")) fail(`job ${job.id} has a record ${r.id} (${r.requestedBy}) no accepted cancel made`);
    }
    if (job.cancellation !== null && !records.some((r) => r.id === job.cancellation?.id)) fail(`job ${job.id} shows cancellation ${job.cancellation.id}, which has no record`);
    const deadlineProcs = Date.now() + 5_000;
    for (;;) {
      const left = survivors(ref.marker);
      if (left.length === 0) break;
      if (Date.now() > deadlineProcs) fail(`job ${job.id} (${ref.kind}, ${job.status}) has processes alive after it ended: ${left.map((s) => `${s.pid} ${s.cmdline}`).join("; ")}`);
      await sleep(50);
    }
  }
  const runners = (await store.liveRunners()).filter((r) => model.jobs.some((j) => j.id === r.jobId));
  if (runners.length > 0) fail(`runners still live in the store: ${runners.map((r) => `${r.jobId}/${r.taskKey} pid ${r.pid}`).join(", ")}`);
}

// ---- the commands ---------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, Real>;

class Submit implements Cmd {
  readonly kind: Kind;
  readonly node: number;
  constructor(kind: Kind, node: number) {
    this.kind = kind;
    this.node = node;
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const marker = `${m.tag}-j${m.jobs.length}-`;
    const spec = specOf(this.kind, m.tag, marker);
    const { job } = await client(r, this.node).submitJob(spec);
    m.jobs.push({ id: job.id, kind: this.kind, marker, keys: job.tasks.filter((t) => t.runOn !== "cancel").map((t) => t.key) });
    r.ops.push(this.toString());
    await checkStep(m, r);
  }
  toString(): string {
    return `submit(${this.kind}@${this.node})`;
  }
}

class CancelJob implements Cmd {
  readonly job: number;
  readonly node: number;
  readonly force: boolean;
  readonly onlyIfPending: boolean;
  constructor(job: number, node: number, force: boolean, onlyIfPending: boolean) {
    this.job = job;
    this.node = node;
    this.force = force;
    this.onlyIfPending = onlyIfPending;
  }
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ref = m.jobs[this.job % m.jobs.length]!;
    const result = await answer(this.toString(), () => client(r, this.node).cancelJob(ref.id, { force: this.force, onlyIfPending: this.onlyIfPending, reason: "interleavings" }));
    r.ops.push(`${this.toString()}=${"refused" in result ? result.refused : result.job.status}`);
    if (!("refused" in result)) {
      // A repeat is answered with the record already under way: one this case was given
      // before, a bulk cancel's child, or the system's (failFast). Anything else is new.
      const record = result.cancellation;
      const isNew = !(r.accepted.get(ref.id)?.has(record.id) ?? false) && !(record.parentId !== null && r.bulk.includes(record.parentId)) && !record.requestedBy.startsWith("system");
      accept(r, ref.id, record.id);
      // Invariant 5: within one job attempt, every accepted job cancel answers the same record.
      const key = `${ref.id}#${result.job.attempt}`;
      const first = r.jobRecord.get(key);
      if (first === undefined) r.jobRecord.set(key, result.cancellation.id);
      else if (first !== result.cancellation.id) fail(`job ${ref.id} attempt ${result.job.attempt}: a repeated cancel answered record ${result.cancellation.id}, the first ${first}`);
      // Invariant 4: a new cancel accepted with onlyIfPending found the job queued: it is
      // cancelled at once. (A repeat of a cancel already under way, e.g. a bulk one, is answered
      // with that record, as any repeat is.) It was told from a repeat by the record's time
      // until a repeat within 5 ms of the first cancel passed for new (seed 20261210).
      if (this.onlyIfPending && isNew && result.job.status !== "cancelled") fail(`job ${ref.id}: onlyIfPending cancel accepted as new, but the job is ${result.job.status}`);
    }
    await checkStep(m, r);
  }
  toString(): string {
    return `cancelJob(${this.job}@${this.node}${this.force ? ",force" : ""}${this.onlyIfPending ? ",onlyIfPending" : ""})`;
  }
}

class CancelTask implements Cmd {
  readonly job: number;
  readonly task: number;
  readonly node: number;
  readonly force: boolean;
  constructor(job: number, task: number, node: number, force: boolean) {
    this.job = job;
    this.task = task;
    this.node = node;
    this.force = force;
  }
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ref = m.jobs[this.job % m.jobs.length]!;
    const key = ref.keys[this.task % ref.keys.length]!;
    const result = await answer(this.toString(), () => client(r, this.node).cancelTask(ref.id, key, { force: this.force, reason: "interleavings" }));
    r.ops.push(`${this.toString()}=${"refused" in result ? result.refused : "accepted"}`);
    if (!("refused" in result)) accept(r, ref.id, result.cancellation.id);
    await checkStep(m, r);
  }
  toString(): string {
    return `cancelTask(${this.job}.${this.task}@${this.node}${this.force ? ",force" : ""})`;
  }
}

class BulkCancel implements Cmd {
  readonly node: number;
  readonly force: boolean;
  constructor(node: number, force: boolean) {
    this.node = node;
    this.force = force;
  }
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const result = await answer(this.toString(), () => client(r, this.node).cancelJobs({ filter: { labels: { case: m.tag } }, force: this.force, reason: "interleavings bulk" }));
    if (!("refused" in result) && result.cancellation !== null) r.bulk.push(result.cancellation.id);
    r.ops.push(this.toString());
    await checkStep(m, r);
  }
  toString(): string {
    return `bulkCancel(@${this.node}${this.force ? ",force" : ""})`;
  }
}

class Resume implements Cmd {
  readonly job: number;
  readonly node: number;
  constructor(job: number, node: number) {
    this.job = job;
    this.node = node;
  }
  check(m: Readonly<Model>): boolean {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ref = m.jobs[this.job % m.jobs.length]!;
    const result = await answer(this.toString(), () => client(r, this.node).resumeJob(ref.id));
    r.ops.push(`${this.toString()}=${"refused" in result ? result.refused : "resumed"}`);
    await checkStep(m, r);
  }
  toString(): string {
    return `resume(${this.job}@${this.node})`;
  }
}

class Wait implements Cmd {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await sleep(this.ms);
    r.ops.push(this.toString());
    await checkStep(m, r);
  }
  toString(): string {
    return `wait(${this.ms})`;
  }
}

/** SIGKILL a node and start it again, as a new node or as the same node id. At most one per case: each costs a server start. */
class Crash implements Cmd {
  readonly node: number;
  readonly sameId: boolean;
  constructor(node: number, sameId: boolean) {
    this.node = node;
    this.sameId = sameId;
  }
  check(m: Readonly<Model>): boolean {
    return m.crashes === 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const node = r.nodes[this.node % r.nodes.length]!;
    await node.server.kill();
    node.server = await startServer(this.sameId ? node.pinned : node.backend, { handlers });
    m.crashes += 1;
    r.ops.push(this.toString());
    await checkStep(m, r);
  }
  toString(): string {
    return `crash(@${this.node}${this.sameId ? ",sameId" : ""})`;
  }
}

export function commands(nodes: number): fc.Arbitrary<Iterable<Cmd>> {
  const node = fc.nat({ max: nodes - 1 });
  const idx = fc.nat({ max: 7 });
  return fc.commands(
    [
      fc.tuple(fc.constantFrom(...kinds), node).map(([k, n]) => new Submit(k, n)),
      fc.tuple(fc.constantFrom(...kinds), node).map(([k, n]) => new Submit(k, n)),
      fc.tuple(idx, node, fc.boolean(), fc.boolean()).map(([j, n, f, p]) => new CancelJob(j, n, f, p)),
      fc.tuple(idx, idx, node, fc.boolean()).map(([j, t, n, f]) => new CancelTask(j, t, n, f)),
      fc.tuple(node, fc.boolean()).map(([n, f]) => new BulkCancel(n, f)),
      fc.tuple(idx, node).map(([j, n]) => new Resume(j, n)),
      fc.integer({ min: 0, max: 300 }).map((ms) => new Wait(ms)),
      fc.integer({ min: 0, max: 300 }).map((ms) => new Wait(ms)),
      // A crash costs a server start (about a second): one case in ten or so has one.
      fc.tuple(node, fc.boolean(), fc.nat({ max: 99 })).map(([n, same, p]): Cmd => (p < 15 ? new Crash(n, same) : new Wait(p))),
    ],
    { maxCommands: 8 },
  );
}

/** What a run saw, for the summary: how many cases, how many distinct sequences of operations. */
export class Tally {
  cases = 0;
  crashes = 0;
  readonly sequences = new Set<string>();
  add(real: Real, model: Model): void {
    this.cases += 1;
    this.crashes += model.crashes;
    this.sequences.add(createHash("sha256").update(real.ops.map((op) => op.replace(/@\d+/g, "")).join("|")).digest("hex").slice(0, 16));
  }
}
