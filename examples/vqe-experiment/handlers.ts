/**
 * The local VQE backend, as a Belay handler (`belay serve --handlers
 * examples/vqe-experiment/handlers.ts`). Belay runs each handler in a worker thread and
 * imports this module there, so it only imports Node built-ins (and types).
 *
 * The chemistry is a toy: H2 in a minimal basis reduced to two determinants (Hartree–Fock
 * and the double excitation), E(θ) = m + d·cos θ + g·sin θ, with a one-parameter ansatz.
 * Its lowest value is near H2's exact ground-state energy in STO-3G (≈ −1.137 Ha). Each
 * iteration measures the gradient with the parameter-shift rule, as a quantum device would,
 * and takes one gradient-descent step.
 *
 * What matters for Belay:
 * - every iteration's energy is reported with `ctx.progress`, so each one is an event in the
 *   job's log (the convergence data) and survives a cancellation;
 * - `ctx.signal` is checked between iterations: a cancel stops the loop at once, and the
 *   partial result is returned (a cancelled task keeps its output);
 * - `ctx.checkpoint` saves θ each iteration, so `belay job resume` continues from there.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext } from "../../src/runners/handler.ts";
import type { Json } from "../../src/core/model.ts";

const hartreeFock = -1.1167;
const doubleExcitation = 0.4;
const coupling = 0.1813;
const mean = (hartreeFock + doubleExcitation) / 2;
const half = (hartreeFock - doubleExcitation) / 2;

function energy(theta: number): number {
  return mean + half * Math.cos(theta) + coupling * Math.sin(theta);
}

export interface VqeInput {
  maxIterations?: number;
  /** Stop when an iteration lowers the energy by less than this, Ha. Default 1e-10. */
  tolerance?: number;
  learningRate?: number;
  /** Wall-clock time of one iteration (the device's cost), ms. Default 100. */
  iterationMs?: number;
}

interface Checkpoint {
  iteration: number;
  theta: number;
}

export async function vqe(rawInput: Json, ctx: HandlerContext): Promise<Json> {
  const input = (rawInput ?? {}) as VqeInput;
  const maxIterations = input.maxIterations ?? 1000;
  const tolerance = input.tolerance ?? 1e-10;
  const learningRate = input.learningRate ?? 0.05;
  const iterationMs = input.iterationMs ?? 100;

  const resumed = ctx.lastCheckpoint as Checkpoint | null;
  let iteration = resumed?.iteration ?? 0;
  let theta = resumed?.theta ?? 0;
  let current = energy(theta);
  if (resumed !== null) ctx.log(`resuming at iteration ${iteration}, θ = ${theta}`);

  while (iteration < maxIterations) {
    if (ctx.signal.aborted) {
      ctx.log(`cancelled after iteration ${iteration}: E = ${current} Ha`);
      return { iterations: iteration, energy: current, theta, converged: false, cancelled: true };
    }
    await sleep(iterationMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    if (ctx.signal.aborted) continue;

    const gradient = (energy(theta + Math.PI / 2) - energy(theta - Math.PI / 2)) / 2;
    theta -= learningRate * gradient;
    const next = energy(theta);
    iteration += 1;
    ctx.progress({ ratio: iteration / maxIterations, message: `iteration ${iteration}: E = ${next.toFixed(6)} Ha`, iteration, energy: next, theta });
    ctx.checkpoint({ iteration, theta });
    const converged = Math.abs(current - next) < tolerance;
    current = next;
    if (converged) return { iterations: iteration, energy: current, theta, converged: true, cancelled: false };
  }
  return { iterations: iteration, energy: current, theta, converged: false, cancelled: false };
}
