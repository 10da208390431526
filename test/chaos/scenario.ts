/**
 * One chaos scenario: start `belay serve` with `BELAY_CRASH_AT=point:occurrence`, drive a
 * seeded workload until the server kills itself there, restart it on the same store, wait
 * for every job to end and check every invariant. The crash points are in src/engine
 * (`crashPoint("…")`), listed in `crashPoints`.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { checkJobs, checkProcesses, checkStore, untilAllTerminal } from "./invariants.ts";
import { killSurvivors } from "./processes.ts";
import { sqliteBackend, startServer } from "./server.ts";
import type { BackendOptions, ChaosBackend } from "./server.ts";
import { cancelRemaining, drive, newObserved } from "./workload.ts";
import type { Observed } from "./workload.ts";

/** Every `crashPoint` of src/engine, in the order a job meets them. */
export const crashPoints = [
  "submit", // engine.ts: the job is stored, the client not answered
  "claim", // scheduler.ts: the task is claimed (running in the store), no runner started
  "run.spawned", // runs.ts: the process runs, its identity not yet stored
  "run.recorded", // runs.ts: the runner's identity is stored
  "run.exited", // runs.ts: the runner exited, its end not yet stored
  "run.ended", // runs.ts: the attempt's end is stored, the runner's row not yet ended
  "run.cleanup", // runs.ts: before the attempt's work dir is removed
  "cancel.requested", // engine.ts: the cancel is stored (202 not yet sent), nothing executed
  "cancel.signal_runners", // cancel-executor.ts: runners signalled, the step not yet written
  "cancel.await_runners", // cancel-executor.ts: the grace period is over, the step not yet written
  "cancel.force_kill", // cancel-executor.ts: SIGKILL sent, its effect not yet awaited
  "cancel.cleanup", // cancel-executor.ts: work dirs removed, the step not yet written
  "cancel.compensate", // cancel-executor.ts: a compensation task was just started
  "cancel.finalize", // cancel-executor.ts: every step done, the record not yet finalised
] as const;

export interface Scenario {
  point: string;
  occurrence: number;
  seed: number;
  /** The server restarts with the same `--node-id` as before the crash (by default, a new node). */
  sameNodeId?: boolean;
}

export interface ScenarioResult {
  /** False when the workload ended before reaching the crash point (nothing was checked after a crash). */
  reached: boolean;
  violations: string[];
  /** What the client saw before the crash: jobs submitted, cancels accepted, events read. */
  seen: { jobs: number; cancels: number; events: number };
}

const handlers = fileURLToPath(new URL("../fixtures/engine-handlers.ts", import.meta.url));
const serverOptions = { concurrency: 6, handlers };

function seen(observed: Observed): ScenarioResult["seen"] {
  return { jobs: observed.kinds.size, cancels: observed.cancels.length, events: observed.events.size };
}

export function describeScenario(s: Scenario): string {
  return `${s.point}:${s.occurrence} seed ${s.seed}${s.sameNodeId === true ? ", restarted with the same --node-id" : ""}`;
}

export async function runScenario(scenario: Scenario, makeBackend: (options: BackendOptions) => ChaosBackend = (options) => sqliteBackend(undefined, options)): Promise<ScenarioResult> {
  const tag = randomBytes(6).toString("hex");
  const backend = makeBackend(scenario.sameNodeId === true ? { nodeId: `node-${tag}` } : {});
  const observed = newObserved();
  try {
    const first = await startServer(backend, { ...serverOptions, crashAt: `${scenario.point}:${scenario.occurrence}` });
    let outcome: "ended" | "died";
    try {
      outcome = await drive(first.client, first.isAlive, observed, { tag, seed: scenario.seed });
    } catch (error) {
      await first.kill();
      throw error;
    }
    const violations: string[] = [];
    if (outcome === "ended") {
      await first.stop();
      return { reached: false, violations, seen: seen(observed) };
    }
    const exit = await first.exited;
    if (exit.signal !== "SIGKILL") violations.push(`the server died of ${exit.signal ?? `exit ${exit.code}`}, not at its crash point: ${first.stderr()}`);

    const second = await startServer(backend, serverOptions);
    try {
      await cancelRemaining(second.client, observed);
      const { jobs, violations: stuck } = await untilAllTerminal(second.client, 20_000);
      violations.push(...stuck);
      // At the moment every job has ended, none of their processes may be left (invariants 3, 7).
      violations.push(...checkProcesses(tag));
      violations.push(...(await checkJobs(second.client, jobs, observed)));
      if (jobs.length < observed.kinds.size) violations.push(`${observed.kinds.size - jobs.length} submitted jobs are missing`);
      await second.stop();
      const store = await backend.openStore();
      try {
        violations.push(...(await checkStore(store)));
      } finally {
        await store.close();
      }
      return { reached: true, violations, seen: seen(observed) };
    } finally {
      await second.kill();
    }
  } finally {
    killSurvivors(tag);
    await backend.dispose();
  }
}
