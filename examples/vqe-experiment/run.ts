/**
 * The quantum-chemistry quick start (seed 001) on Belay: start VQE experiments on a local
 * backend and on a (fake) cloud backend, let them iterate, cancel them, and read back the
 * partial convergence data.
 *
 * 1. "H2 Test" runs locally (a handler): cancelled → localCancelled, not cloudCancelled.
 * 2. "H2 Cloud Test" runs on the cloud: cancelled there too → cloudCancelled.
 * 3. "H2 Cloud Test (stubborn)" runs on a cloud that refuses the cancel: the local
 *    cancellation still completes, the refusal is a warning.
 *
 * Run against a server started with the handlers and the fake cloud (see README.md):
 * `node_modules/.bin/node examples/vqe-experiment/run.ts`.
 */
import { BelayClient } from "../../src/client/index.ts";
import { belayConnection } from "../shared/connection.ts";
import { cancelExperiment, createExperiment, getExperiment, isCancellable } from "./experiments.ts";
import type { CancelExperimentResult, Experiment, ExperimentRequest } from "./experiments.ts";

export interface VqeDemoOptions {
  url: string;
  token: string;
  log?: (line: string) => void;
  /** Convergence points each experiment must have before it is cancelled. Default 5. */
  pointsBeforeCancel?: number;
}

export interface ExperimentOutcome {
  id: string;
  request: ExperimentRequest;
  /** The experiment just before the cancel. */
  before: Experiment;
  cancel: CancelExperimentResult;
  /** The experiment read back after the cancel. */
  after: Experiment;
}

export interface VqeDemoResult {
  local: ExperimentOutcome;
  cloud: ExperimentOutcome;
  stubbornCloud: ExperimentOutcome;
}

const h2 = { smiles: "[H][H]", basis: "sto-3g" };

export const demoExperiments = {
  local: { name: "H2 Test", molecule: h2, configuration: { method: "VQE", backend: "local", maxIterations: 1000, iterationMs: 100 } },
  cloud: { name: "H2 Cloud Test", molecule: h2, configuration: { method: "VQE", backend: "cloud", backendName: "fake-qpu", maxIterations: 1000, iterationMs: 100 } },
  stubbornCloud: {
    name: "H2 Cloud Test (stubborn)",
    molecule: h2,
    configuration: { method: "VQE", backend: "cloud", backendName: "fake-qpu", maxIterations: 1000, iterationMs: 100, fakeCloud: { cancel: "fail" } },
  },
} satisfies Record<string, ExperimentRequest>;

async function waitForPoints(client: BelayClient, id: string, count: number, timeoutMs = 30_000): Promise<Experiment> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const experiment = await getExperiment(client, id);
    if (experiment.convergenceData.length >= count) return experiment;
    if (!isCancellable(experiment.status)) throw new Error(`experiment ${id} ended ${experiment.status} before reporting ${count} iterations`);
    if (Date.now() > deadline) throw new Error(`experiment ${id} reported ${experiment.convergenceData.length} iterations in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function runOne(client: BelayClient, request: ExperimentRequest, points: number): Promise<ExperimentOutcome> {
  const { id } = await createExperiment(client, request);
  const before = await waitForPoints(client, id, points);
  const cancel = await cancelExperiment(client, id);
  const after = await getExperiment(client, id);
  return { id, request, before, cancel, after };
}

function report(log: (line: string) => void, label: string, outcome: ExperimentOutcome): void {
  const { cancel, after } = outcome;
  const last = after.convergenceData.at(-1);
  log(`\n${label}: "${outcome.request.name}" (${after.backend}) ${outcome.id}`);
  log(`  PATCH …/cancel → ${JSON.stringify({ status: cancel.status, experimentId: cancel.experimentId, localCancelled: cancel.localCancelled, cloudCancelled: cancel.cloudCancelled, message: cancel.message })}`);
  log(`  stopped: ${cancel.stops.map((s) => `${s.task} ${s.mode ?? "-"} (${s.outcome})`).join(", ")}`);
  for (const warning of cancel.warnings) log(`  warning: ${warning}`);
  log(`  GET …/${outcome.id} → status ${after.status}, cancelledAt ${after.cancelledAt ?? "null"}, errorMessage ${JSON.stringify(after.errorMessage)}`);
  log(`  convergenceData: ${after.convergenceData.length} points kept; last: iteration ${last?.iteration ?? "-"}, E = ${last?.energy.toFixed(6) ?? "-"} Ha`);
  if (after.result !== null) log(`  partial result: ${JSON.stringify(after.result)}`);
}

export async function runVqeDemo(options: VqeDemoOptions): Promise<VqeDemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const client = new BelayClient({ url: options.url, token: options.token });
  const points = options.pointsBeforeCancel ?? 5;
  log(`starting 3 experiments; each is cancelled once it has reported ${points} iterations…`);
  const [local, cloud, stubbornCloud] = await Promise.all([
    runOne(client, demoExperiments.local, points),
    runOne(client, demoExperiments.cloud, points),
    runOne(client, demoExperiments.stubbornCloud, points),
  ]);
  report(log, "1. local backend", local);
  report(log, "2. cloud backend", cloud);
  report(log, "3. cloud backend that refuses to cancel", stubbornCloud);
  return { local, cloud, stubbornCloud };
}

if (import.meta.main) {
  const { url, token } = belayConnection();
  await runVqeDemo({ url, token });
}
