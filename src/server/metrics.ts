/**
 * Prometheus metrics (DESIGN §5), fed by the engine's events and read from the store at
 * scrape time, served at `GET /metrics` (no token, not in the OpenAPI document).
 *
 * | metric | type | from |
 * |---|---|---|
 * | `belay_cancellation_requests_total{scope,force,outcome}` | counter | a `finalize` step: outcome = the record's status |
 * | `belay_cancellation_duration_seconds{scope}` | histogram | a `finalize` step: the record's `durationMs` |
 * | `belay_cancellation_failures_total{step}` | counter | a cancellation step that ended `failed` |
 * | `belay_runners_terminated_total{mode}` | counter | `belay.task.cancelled` with a `stopMode` (graceful, forced, remote; not `remote_refused`: that remote job was not stopped) |
 * | `belay_remote_cancel_failures_total{adapter}` | counter | `belay.cancellation.remote` with outcome `refused`: each refused (or unanswered) remote cancel, retries included |
 * | `belay_slurm_cancel_failures_total{reason}` | counter | the Slurm runner: each `scancel` that failed (`scancel_failed`, retries included) or job still on the cluster after the final one (`job_did_not_leave`) |
 * | `belay_tasks_stalled_total` | counter | a task cancel's `finalize` step whose reason is `stalled` (the stall watchdog, DESIGN §7) |
 * | `belay_drain_tasks_total{outcome}` | counter | `belay.node.drained`: the tasks a drain of this node let finish (`finished`), handed back to the queue (`handed_back`) or saw end otherwise (`stopped_otherwise`) |
 * | `belay_node_draining` | gauge | 1 from the first SIGTERM (a drain under way or done), else 0 |
 * | `belay_jobs_total{status}` | counter | terminal job events (succeeded, failed, partial, cancelled) |
 * | `belay_task_duration_seconds{status}` | histogram | terminal task events that carry `durationMs` (the task ran) |
 * | `belay_jobs_queued` | gauge | `engine.countJobs()` at scrape |
 * | `belay_jobs_cancelling` | gauge | `engine.countJobs()` at scrape (the "stuck in cancelling" alert) |
 * | `belay_pool_slots{pool,state}` | gauge | `engine.listPools()` at scrape: `used` and `free` slots of each pool configured here |
 *
 * Counters count what this process saw; gauges read the shared store, so with several
 * servers on one database every instance reports the same queue depth (aggregate with `max`).
 * Bulk records have no job and emit no step events: their per-job child records are counted.
 */
import { slurmCancelFailures } from "../runners/slurm.ts";
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { FastifyInstance } from "fastify";
import type { BelayEvent } from "../core/model.ts";
import type { JobStatus } from "../core/states.ts";
import type { Belay } from "../engine/engine.ts";
import type { ServerExtensions } from "./extensions.ts";

export interface BelayMetrics {
  registry: Registry;
  /** Adds `GET /metrics` at the root. */
  extension: ServerExtensions;
  /** Stop listening to the engine's events. */
  stop(): void;
}

export interface MetricsOptions {
  /** Register Node.js process metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
}

const terminalJobEvents: Record<string, JobStatus> = {
  "belay.job.succeeded": "succeeded",
  "belay.job.failed": "failed",
  "belay.job.partial": "partial",
  "belay.job.cancelled": "cancelled",
};

const terminalTaskEvents = new Set(["belay.task.succeeded", "belay.task.failed", "belay.task.cancelled"]);

const cancellationBuckets = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const taskBuckets = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600];

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : null;
}

export function createMetrics(engine: Pick<Belay, "on" | "countJobs" | "listPools" | "draining">, options: MetricsOptions = {}): BelayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // Gauges named `_total` break the exposition's naming rules (`promtool check metrics`);
    // each is the sum of a kept family (e.g. `nodejs_active_handles{type}`).
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  }
  const registers = [registry];
  const stopGcWatch = options.defaultMetrics === false ? () => {} : watchHeapAfterMajorGc(registers);

  const cancellationRequests = new Counter({
    name: "belay_cancellation_requests_total",
    help: "Cancellation records finalized, by scope (job|task), force and outcome (the record's status: completed|partial|failed|too_late).",
    labelNames: ["scope", "force", "outcome"] as const,
    registers,
  });
  const cancellationDuration = new Histogram({
    name: "belay_cancellation_duration_seconds",
    help: "Time from a cancel request to its record's finalize step.",
    labelNames: ["scope"] as const,
    buckets: cancellationBuckets,
    registers,
  });
  const cancellationFailures = new Counter({
    name: "belay_cancellation_failures_total",
    help: "Cancellation steps that ended failed, by step (e.g. force_kill, cleanup, compensate).",
    labelNames: ["step"] as const,
    registers,
  });
  const runnersTerminated = new Counter({
    name: "belay_runners_terminated_total",
    help: "Runners stopped by a cancellation, by how they stopped: graceful (exited after the signal), forced (killed), remote (the remote service cancelled).",
    labelNames: ["mode"] as const,
    registers,
  });
  const remoteCancelFailures = new Counter({
    name: "belay_remote_cancel_failures_total",
    help: "Remote cancels the service refused or did not answer, by adapter (each retry counts); the record stays partial until the remote job is seen to stop.",
    labelNames: ["adapter"] as const,
    registers,
  });
  const tasksStalled = new Counter({
    name: "belay_tasks_stalled_total",
    help: "Running tasks the stall watchdog cancelled (no progress, checkpoint or log line for their stallTimeoutMs).",
    registers,
  });
  const jobsTotal = new Counter({
    name: "belay_jobs_total",
    help: "Jobs that reached a terminal status (a resumed job counts again when it ends again).",
    labelNames: ["status"] as const,
    registers,
  });
  const taskDuration = new Histogram({
    name: "belay_task_duration_seconds",
    help: "Run time of task attempts that ended succeeded, failed or cancelled.",
    labelNames: ["status"] as const,
    buckets: taskBuckets,
    registers,
  });

  const drainTasks = new Counter({
    name: "belay_drain_tasks_total",
    help: "Tasks running when this node was drained, by what became of them: finished (ended within the drain timeout), handed_back (stopped and put back in the queue for another node), stopped_otherwise (ended on their own or by a cancel as they were being handed back).",
    labelNames: ["outcome"] as const,
    registers,
  });
  new Gauge({
    name: "belay_node_draining",
    help: "1 once this node has begun draining (it claims nothing more and /readyz fails), else 0.",
    registers,
    collect() {
      this.set(engine.draining ? 1 : 0);
    },
  });
  for (const outcome of ["finished", "handed_back", "stopped_otherwise"]) drainTasks.inc({ outcome }, 0);

  // Both gauges read one count per scrape: the first collect starts the query, the second reuses it.
  let counts: { at: number; value: Promise<Record<JobStatus, number> | null> } | null = null;
  const jobCounts = (): Promise<Record<JobStatus, number> | null> => {
    const now = Date.now();
    if (counts === null || now - counts.at > 250) {
      // A store that cannot answer (closing, unreachable) must not fail the whole scrape.
      counts = { at: now, value: engine.countJobs().catch(() => null) };
    }
    return counts.value;
  };
  new Gauge({
    name: "belay_jobs_queued",
    help: "Jobs waiting to start (status queued).",
    registers,
    async collect() {
      const c = await jobCounts();
      if (c !== null) this.set(c.queued ?? 0);
    },
  });
  new Gauge({
    name: "belay_jobs_cancelling",
    help: "Jobs in status cancelling (a cancel accepted, runners not all stopped yet).",
    registers,
    async collect() {
      const c = await jobCounts();
      if (c !== null) this.set(c.cancelling ?? 0);
    },
  });

  new Gauge({
    name: "belay_pool_slots",
    help: "Slots of each resource pool configured on this server, by state: used (held by a running task) or free.",
    labelNames: ["pool", "state"] as const,
    registers,
    async collect() {
      const pools = await engine.listPools().catch(() => null);
      if (pools === null) return;
      for (const pool of pools) {
        this.set({ pool: pool.name, state: "used" }, pool.inUse);
        this.set({ pool: pool.name, state: "free" }, Math.max(0, pool.capacity - pool.inUse));
      }
    },
  });

  const onEvent = (event: BelayEvent): void => {
    const data = event.data;
    if (event.type === "belay.cancellation.step") {
      const step = str(data["step"]);
      if (step === null) return;
      if (data["status"] === "failed") cancellationFailures.inc({ step });
      if (step === "finalize") {
        const scope = str(data["scope"]) ?? "job";
        const outcome = str(data["recordStatus"]) ?? "unknown";
        cancellationRequests.inc({ scope, force: data["force"] === true ? "true" : "false", outcome });
        const ms = num(data["durationMs"]);
        if (ms !== null) cancellationDuration.observe({ scope }, ms / 1000);
        if (scope === "task" && data["requestedBy"] === "system" && data["reason"] === "stalled") tasksStalled.inc();
      }
      return;
    }
    if (event.type === "belay.cancellation.remote") {
      if (data["outcome"] === "refused") remoteCancelFailures.inc({ adapter: str(data["adapter"]) ?? "unknown" });
      return;
    }
    const jobStatus = terminalJobEvents[event.type];
    if (jobStatus !== undefined) {
      jobsTotal.inc({ status: jobStatus });
      return;
    }
    if (terminalTaskEvents.has(event.type)) {
      // A failed attempt that will be retried is reported as `belay.task.failed` with `retrying`.
      if (data["retrying"] === true) return;
      const status = str(data["status"]) ?? event.type.slice("belay.task.".length);
      const ms = num(data["durationMs"]);
      if (ms !== null) taskDuration.observe({ status }, ms / 1000);
      if (event.type === "belay.task.cancelled") {
        const mode = str(data["stopMode"]);
        if (mode !== null && mode !== "remote_refused") runnersTerminated.inc({ mode });
      }
    }
  };
  const unsubscribeJobs = engine.on("*", onEvent);
  const unsubscribeDrained = engine.on("belay.node.drained", (event) => {
    drainTasks.inc({ outcome: "finished" }, event.data.finished);
    drainTasks.inc({ outcome: "handed_back" }, event.data.handedBack);
    drainTasks.inc({ outcome: "stopped_otherwise" }, event.data.stoppedOtherwise);
  });
  const unsubscribe = (): void => {
    unsubscribeJobs();
    unsubscribeDrained();
  };

  new Counter({
    name: "belay_slurm_cancel_failures_total",
    help: "Slurm cancels that failed in this process: scancel refused or failed (scancel_failed), or the job did not leave the cluster after the final scancel (job_did_not_leave)",
    labelNames: ["reason"],
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of Object.entries(slurmCancelFailures)) this.inc({ reason }, count);
    },
  });

  // The label values every dashboard expects exist from the first scrape (at 0).
  for (const mode of ["graceful", "forced", "remote"]) runnersTerminated.inc({ mode }, 0);
  for (const status of Object.values(terminalJobEvents)) jobsTotal.inc({ status }, 0);
  cancellationFailures.inc({ step: "cleanup" }, 0);

  return {
    registry,
    extension: {
      registerRootRoutes(app: FastifyInstance) {
        app.get("/metrics", { config: { role: "public" }, schema: { hide: true } }, async (_request, reply) => {
          const text = await registry.metrics();
          return reply.type(registry.contentType).send(text);
        });
      },
    },
    stop() {
      unsubscribe();
      stopGcWatch();
    },
  };
}

/**
 * The V8 heap in use just after each major (mark-compact) collection: what the process
 * really retains. `nodejs_heap_size_used_bytes` is sampled anywhere in the collection cycle
 * and swings with the garbage of the moment; this one rises only when something is kept.
 * `npm run load` fails on its slope (a leak), and operators can alert on it the same way.
 */
function watchHeapAfterMajorGc(registers: Registry[]): () => void {
  const gauge = new Gauge({
    name: "belay_heap_used_after_major_gc_bytes",
    help: "V8 heap in use right after the latest major (mark-compact) garbage collection: the memory the server retains.",
    registers,
  });
  gauge.set(getHeapStatistics().used_heap_size);
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((entry) => (entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR);
    if (major) gauge.set(getHeapStatistics().used_heap_size);
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => observer.disconnect();
}
