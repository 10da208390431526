/**
 * A random but reproducible (seeded) mixed workload driven over HTTP, that records what the
 * client saw: the jobs it submitted, the cancels the server accepted and every event and log
 * line it read. The invariant checks compare that record with the store after a crash.
 *
 * Every task is bounded in time (8 s at most), so after a restart every job ends by itself
 * or by its cancellation, and every process carries the scenario's marker (see processes.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BelayClient } from "../../src/client/client.ts";
import { BelayApiError } from "../../src/client/errors.ts";
import type { BelayEvent, Job, LogLine } from "../../src/core/model.ts";
import type { JobSpecInput } from "../../src/core/spec.ts";

export type JobKind = "quick" | "retrying" | "graceful" | "stubborn" | "forky" | "graph" | "handler";
const jobKinds: JobKind[] = ["quick", "retrying", "graceful", "stubborn", "forky", "graph", "handler"];

export interface AcceptedCancel {
  jobId: string;
  taskKey: string | null;
  recordId: string;
}

/** What the client saw before the server died (or the workload ended). */
export interface Observed {
  kinds: Map<string, JobKind>;
  cancels: AcceptedCancel[];
  /** Cancels that got 409 (the job or task had finished first): no record is promised. */
  refusedCancels: number;
  /** Every event seen, by its global seq (from the event stream and from GET /jobs/{id}/events). */
  events: Map<number, BelayEvent>;
  logs: Map<string, LogLine[]>;
}

/** mulberry32: small, seedable, good enough to pick workloads. */
export function randomSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `sh -c` script of a process task, marked for processes.ts. */
function script(tag: string, body: string): string {
  return `: chaos-${tag}; ${body}`;
}

/** A shell loop of `n` × 0.25 s that ends by itself, so nothing outlives a scenario by long. */
const loop = (n: number, inner = ""): string => `i=0; while [ $i -lt ${n} ]; do ${inner}sleep 0.25; i=$((i+1)); done`;

export function jobSpec(kind: JobKind, tag: string, index: number): JobSpecInput {
  const env = { CHAOS_TAG: tag };
  const name = `${kind}-${index}`;
  switch (kind) {
    case "quick":
      return { name, command: script(tag, `echo 'BELAY_PROGRESS {"ratio":0.5,"message":"half"}'; echo quick-${index}; sleep 0.2`), env };
    case "retrying":
      // Fails its first attempt, succeeds the second.
      return { name, tasks: [{ key: "main", command: script(tag, `echo attempt $BELAY_ATTEMPT; sleep 0.2; [ "$BELAY_ATTEMPT" -gt 1 ]`), env, retries: 1 }] };
    case "graceful":
      return { name, command: script(tag, `trap 'echo got TERM; exit 0' TERM; echo ready; ${loop(32, 'echo "BELAY_PROGRESS {\\"ratio\\":0.$i}"; ')}`), env };
    case "stubborn":
      return { name, command: script(tag, `trap '' TERM; echo ready; ${loop(32)}`), env, graceMs: 300 };
    case "forky":
      // A group of sleeping children that ignore SIGTERM: every member must be gone at the end.
      return { name, command: script(tag, `for c in 1 2 3 4; do (trap '' TERM; ${loop(32)}) & done; echo forked; wait`), env, graceMs: 300 };
    case "graph":
      return {
        name,
        graceMs: 500,
        tasks: [
          { key: "fetch", command: script(tag, "echo fetched; sleep 0.3"), env },
          { key: "build", command: script(tag, `trap 'exit 0' TERM; ${loop(20)}`), env, dependsOn: ["fetch"] },
          { key: "publish", command: script(tag, "echo published"), env, dependsOn: ["build"] },
          { key: "undo", command: script(tag, "sleep 0.3; echo undone"), env, runOn: "cancel" },
        ],
      };
    case "handler":
      return { name, tasks: [{ key: "solve", handler: "converge", input: { steps: 300 } }] };
  }
}

const terminal = new Set(["succeeded", "failed", "partial", "cancelled"]);
/** The jobs that run until cancelled (or for 8 s at most): the driver always cancels them. */
const longKinds = new Set<JobKind>(["graceful", "stubborn", "forky", "graph"]);

function isBroken(error: unknown): boolean {
  return !(error instanceof BelayApiError);
}

export interface DriveOptions {
  tag: string;
  seed: number;
  /** Extra random jobs beside one of each kind. */
  extraJobs?: number;
  /** Give up waiting for the jobs to end after this long. */
  timeoutMs?: number;
}

/**
 * Submit one job of each kind and some random extra ones, cancel some of them at random
 * moments (some twice, some with `force`, a task of a graph), and read their events and logs
 * until every job has ended or the server has died. Never throws for a broken connection.
 */
export async function drive(client: BelayClient, isAlive: () => boolean, observed: Observed, options: DriveOptions): Promise<"ended" | "died"> {
  const rng = randomSource(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
  const stream = collectEvents(client, observed);
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  try {
    const kinds: JobKind[] = [...jobKinds];
    for (let i = 0; i < (options.extraJobs ?? Math.floor(rng() * 5)); i++) kinds.push(pick(jobKinds));
    kinds.sort(() => rng() - 0.5);
    const ids: string[] = [];
    for (const [index, kind] of kinds.entries()) {
      const { job } = await client.submitJob(jobSpec(kind, options.tag, index));
      observed.kinds.set(job.id, kind);
      ids.push(job.id);
      if (rng() < 0.3) await sleep(Math.floor(rng() * 60));
    }

    // Cancel the long jobs once they run (so that every step of a cancellation is reached),
    // the others by chance and at random moments; some twice (a repeat must answer the
    // same record), some with force, a task of a graph.
    const reader = new Reader(client, observed);
    const decided = new Set<string>();
    let jobs = await reader.read();
    while (decided.size < ids.length) {
      for (const job of jobs) {
        if (decided.has(job.id)) continue;
        const kind = observed.kinds.get(job.id)!;
        const always = longKinds.has(kind);
        if (terminal.has(job.status) || (!always && rng() > 0.4)) {
          decided.add(job.id);
          continue;
        }
        const early = Date.now() < deadline - 10_000;
        if (always && early && (job.status === "queued" || rng() < 0.4)) continue;
        decided.add(job.id);
        const force = kind !== "graceful" && kind !== "stubborn" && rng() < 0.2;
        if (kind === "graph" && rng() < 0.3) await cancel(client, observed, job.id, "build", { force });
        await cancel(client, observed, job.id, null, { force, reason: "chaos" });
        if (rng() < 0.3) await cancel(client, observed, job.id, null, { reason: "chaos repeat" });
        if (rng() < 0.5) await sleep(Math.floor(rng() * 100));
      }
      await sleep(100 + Math.floor(rng() * 200));
      jobs = await reader.read();
    }

    for (;;) {
      if (jobs.every((j) => terminal.has(j.status))) return "ended";
      if (Date.now() > deadline) throw new Error(`the workload did not end within its time: ${jobs.filter((j) => !terminal.has(j.status)).map((j) => `${j.name}: ${j.status}`).join(", ")}`);
      await sleep(250);
      jobs = await reader.read();
    }
  } catch (error) {
    if (isBroken(error) && !isAlive()) return "died";
    if (isBroken(error)) {
      // The connection broke but the process is still there: it is dying right now.
      await sleep(500);
      if (!isAlive()) return "died";
    }
    throw error;
  } finally {
    stream.abort();
  }
}

async function cancel(
  client: BelayClient,
  observed: Observed,
  jobId: string,
  taskKey: string | null,
  request: { force?: boolean; reason?: string },
): Promise<void> {
  try {
    const answer = taskKey === null ? await client.cancelJob(jobId, request) : await client.cancelTask(jobId, taskKey, request);
    observed.cancels.push({ jobId, taskKey, recordId: answer.cancellation.id });
  } catch (error) {
    if (error instanceof BelayApiError && error.status === 409) {
      observed.refusedCancels += 1;
      return;
    }
    throw error;
  }
}

/**
 * After a restart, carry on as the client would have: cancel the long jobs it had not
 * cancelled yet (they would otherwise run their whole course). Answers are recorded like
 * the driver's.
 */
export async function cancelRemaining(client: BelayClient, observed: Observed): Promise<void> {
  const { items } = await client.listJobs({ limit: 1000 });
  for (const job of items) {
    if (terminal.has(job.status) || !longKinds.has(observed.kinds.get(job.id) ?? "quick")) continue;
    if (observed.cancels.some((c) => c.jobId === job.id && c.taskKey === null)) continue;
    await cancel(client, observed, job.id, null, { reason: "chaos, after the restart" });
  }
}

/** Reads the jobs, and the new events and log lines of those not yet seen ended, into `observed`. */
class Reader {
  private readonly client: BelayClient;
  private readonly observed: Observed;
  private readonly lastEvent = new Map<string, number>();
  private readonly lastLog = new Map<string, number>();
  private readonly done = new Set<string>();

  constructor(client: BelayClient, observed: Observed) {
    this.client = client;
    this.observed = observed;
  }

  async read(): Promise<Job[]> {
    const { items: jobs } = await this.client.listJobs({ limit: 1000 });
    for (const job of jobs) {
      if (this.done.has(job.id)) continue;
      const events = await this.client.getJobEvents(job.id, { after: this.lastEvent.get(job.id) ?? 0, limit: 10_000 });
      for (const event of events.items) {
        this.observed.events.set(event.seq, event);
        this.lastEvent.set(job.id, event.seq);
      }
      const logs = await this.client.getLogs(job.id, { after: this.lastLog.get(job.id) ?? 0 });
      const seen = this.observed.logs.get(job.id) ?? [];
      for (const line of logs.items) {
        seen.push(line);
        this.lastLog.set(job.id, line.seq);
      }
      this.observed.logs.set(job.id, seen);
      if (terminal.has(job.status)) this.done.add(job.id);
    }
    return jobs;
  }
}

/** Every live event into `observed` until aborted or the server dies. */
function collectEvents(client: BelayClient, observed: Observed): AbortController {
  const controller = new AbortController();
  void (async () => {
    try {
      for await (const event of client.events({ signal: controller.signal })) observed.events.set(event.seq, event);
    } catch {
      // The server died: what was seen is kept.
    }
  })();
  return controller;
}

export function newObserved(): Observed {
  return { kinds: new Map(), cancels: [], refusedCancels: 0, events: new Map(), logs: new Map() };
}
