/**
 * The seed's experiment API (create, cancel, read back partial results) written as a thin
 * layer over Belay's client SDK. An experiment is a Belay job with one task, `vqe`:
 *
 * - backend `local`: a `handler` task running `vqe` from handlers.ts on the Belay server;
 * - backend `cloud`: a `remote` task on the adapter `cloud`, the fake cloud service
 *   (`belay fake-remote`, started with `belay serve --remote cloud=URL`).
 *
 * Nothing is stored here: the convergence data is the job's progress events, the cancel
 * outcome is Belay's cancellation record.
 */
import type { BelayClient, BelayEvent, CancellationRecord, Job, JobSpecInput, JobStatus, Json } from "../../src/client/index.ts";

export type Backend = "local" | "cloud";

/** The seed's `POST /experiments` body. */
export interface ExperimentRequest {
  name: string;
  molecule: { smiles: string; basis: string };
  configuration: {
    method: "VQE";
    backend?: Backend;
    /** The cloud device, kept with the experiment. */
    backendName?: string;
    maxIterations?: number;
    learningRate?: number;
    /** Time one iteration takes, ms. */
    iterationMs?: number;
    /** Knobs of the fake cloud (docs/remote-adapter.md), e.g. `{cancel: "fail"}` for a cloud that refuses to cancel. */
    fakeCloud?: { [key: string]: Json };
  };
}

/** The seed's `PATCH /experiments/{id}/cancel` answer. */
export interface CancelExperimentResult {
  status: JobStatus;
  experimentId: string;
  /** The experiment is stopped on our side: nothing of it runs here any more. */
  localCancelled: boolean;
  /** The cloud accepted the cancel of its job (false for a local experiment). */
  cloudCancelled: boolean;
  /** A cloud cancel was sent (whatever its outcome). */
  cloudCancelAttempted: boolean;
  message: string;
  /** How each runner stopped: `graceful` (the handler honoured its signal), `remote` (the cloud confirmed), `forced`. */
  stops: Array<{ task: string; mode: string | null; outcome: string }>;
  /** A cloud cancel that failed, as Belay recorded it. */
  warnings: string[];
  cancellationId: string;
}

export interface ConvergencePoint {
  iteration: number;
  energy: number;
}

/** The seed's `GET /experiments/{id}`. */
export interface Experiment {
  id: string;
  name: string;
  backend: Backend;
  status: JobStatus;
  cancelledAt: string | null;
  /** Every energy reported before the end, oldest first: partial results survive a cancel. */
  convergenceData: ConvergencePoint[];
  /** The task's output: the final result, or the handler's partial summary after a cancel. */
  result: Json | null;
  errorMessage: string | null;
}

const taskKey = "vqe";

function experimentSpec(request: ExperimentRequest): JobSpecInput {
  const config = request.configuration;
  const backend = config.backend ?? "local";
  const maxIterations = config.maxIterations ?? 1000;
  const iterationMs = config.iterationMs ?? 100;
  const common = { name: request.name, labels: { experiment: "true", method: config.method, backend }, params: { ...request } as unknown as Json };
  if (backend === "local") {
    const input = { maxIterations, iterationMs, ...(config.learningRate === undefined ? {} : { learningRate: config.learningRate }) };
    return { ...common, graceMs: 5_000, tasks: [{ key: taskKey, handler: "vqe", input }] };
  }
  // The fake cloud reports a made-up converging energy on its own schedule; a real one
  // would take the circuit here. The grace period outlasts the adapter's 5 s request
  // timeout, so a slow cloud cancel is still recorded as such (docs/remote-adapter.md).
  const input = { molecule: request.molecule.smiles, device: config.backendName ?? "fake-qpu", steps: maxIterations, durationMs: maxIterations * iterationMs, ...config.fakeCloud };
  return { ...common, graceMs: 10_000, tasks: [{ key: taskKey, kind: "remote", adapter: "cloud", input }] };
}

/** `POST /experiments` with `execute_immediately`: the job is queued at once. */
export async function createExperiment(client: BelayClient, request: ExperimentRequest): Promise<{ id: string; status: JobStatus }> {
  const { job } = await client.submitJob(experimentSpec(request));
  return { id: job.id, status: job.status };
}

export function isCancellable(status: JobStatus): boolean {
  return status === "queued" || status === "running";
}

/**
 * `PATCH /experiments/{id}/cancel`. Waits for the cancellation to finish, so the answer
 * says what happened locally and on the cloud. A cloud that refuses does not hold up the
 * local cancel: it shows as `cloudCancelled: false` with a warning. Throws Belay's
 * `JOB_ALREADY_FINISHED` for an experiment that has already ended, `JOB_NOT_FOUND` for an
 * unknown id.
 */
export async function cancelExperiment(client: BelayClient, id: string, reason = "Cancelled by user"): Promise<CancelExperimentResult> {
  const { job, cancellation } = await client.cancelJob(id, { reason, wait: true, waitMs: 30_000 });
  const record: CancellationRecord = cancellation;
  const localCancelled = job.status === "cancelled";
  const cloudCancelled = record.remote.attempted > 0 && record.remote.cancelled === record.remote.attempted;
  const warnings = [...record.errors];
  return {
    status: job.status,
    experimentId: id,
    localCancelled,
    cloudCancelled,
    cloudCancelAttempted: record.remote.attempted > 0,
    message: localCancelled
      ? `Experiment cancelled${warnings.length > 0 ? "; the cloud job may still be running" : ""}`
      : `Experiment ${job.status}: the cancellation is ${record.status}`,
    stops: record.tasks.map((t) => ({ task: t.key, mode: t.mode, outcome: t.outcome })),
    warnings,
    cancellationId: record.id,
  };
}

/** Every event of the job, following the pages. */
async function allEvents(client: BelayClient, id: string): Promise<BelayEvent[]> {
  const events: BelayEvent[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await client.getJobEvents(id, { after, limit: 1000 });
    events.push(...page.items);
    if (page.nextCursor === null) return events;
    after = Number(page.nextCursor);
  }
}

function convergencePoint(event: BelayEvent): ConvergencePoint | null {
  const data = event.data["data"];
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const { iteration, energy } = data;
  return typeof iteration === "number" && typeof energy === "number" ? { iteration, energy } : null;
}

/** `GET /experiments/{id}`: status, and the convergence data so far (all of it, also after a cancel). */
export async function getExperiment(client: BelayClient, id: string): Promise<Experiment> {
  const { job } = await client.getJob(id);
  const events = await allEvents(client, id);
  const convergenceData = events.filter((e) => e.type === "belay.task.progress").flatMap((e) => convergencePoint(e) ?? []);
  return {
    id: job.id,
    name: job.name,
    backend: (job.labels["backend"] ?? "local") as Backend,
    status: job.status,
    cancelledAt: job.status === "cancelled" ? job.finishedAt : null,
    convergenceData,
    result: task(job)?.output ?? null,
    errorMessage: errorMessage(job),
  };
}

function task(job: Job): Job["tasks"][number] | undefined {
  return job.tasks.find((t) => t.key === taskKey);
}

function errorMessage(job: Job): string | null {
  if (job.status === "cancelled") return job.cancellation?.reason ?? "Cancelled";
  if (job.status === "failed") return task(job)?.error ?? "failed";
  return null;
}
