/**
 * The bridge's simulator: a toy one-compartment pharmacokinetic model (an oral dose absorbed
 * from the gut and eliminated from plasma), stepped one simulated hour at a time. Belay runs
 * it as a `process` task; it reports each step with a `BELAY_PROGRESS` line.
 *
 * Cancellation is cooperative, as in the seed's worker loop: SIGTERM only raises a flag,
 * which is checked between two steps (the cancellation point). The step in flight finishes,
 * then the simulator exits without writing a result, so a cancelled job has no result
 * handle. A finished run writes `result.json` to `$BELAY_ARTIFACTS`, which Belay keeps.
 *
 * Usage: node simulate.ts '{"drug":"caffeine","doseMg":200,"hours":24,"stepMs":100}'
 *        node simulate.ts caffeine 200 24 100          (as templates.yaml runs it)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface SimulationParams {
  drug: string;
  doseMg: number;
  /** Simulated hours; one step each. */
  hours: number;
  /** Wall-clock time one step takes, ms (a real solver's cost). */
  stepMs: number;
}

const absorptionPerHour = 1.2;
const eliminationPerHour = 0.15;
const volumeL = 40;

async function simulate(params: SimulationParams): Promise<void> {
  let cancelRequested = false;
  process.on("SIGTERM", () => {
    cancelRequested = true;
    console.log("SIGTERM received: stopping at the next cancellation point");
  });

  let gutMg = params.doseMg;
  let plasmaMg = 0;
  const concentrations: number[] = [];
  for (let hour = 1; hour <= params.hours; hour += 1) {
    if (cancelRequested) {
      console.log(`cancellation acknowledged before hour ${hour}: no result written`);
      process.exit(143);
    }
    await sleep(params.stepMs);
    const absorbed = gutMg * (1 - Math.exp(-absorptionPerHour));
    gutMg -= absorbed;
    plasmaMg = (plasmaMg + absorbed) * Math.exp(-eliminationPerHour);
    const concentration = Math.round((plasmaMg / volumeL) * 1000) / 1000;
    concentrations.push(concentration);
    const progress = { ratio: hour / params.hours, message: `hour ${hour}/${params.hours}: ${concentration} mg/L`, hour, concentrationMgPerL: concentration };
    console.log(`BELAY_PROGRESS ${JSON.stringify(progress)}`);
  }

  const artifacts = process.env["BELAY_ARTIFACTS"];
  if (artifacts !== undefined) writeFileSync(join(artifacts, "result.json"), JSON.stringify({ ...params, concentrations }));
  console.log(`simulation of ${params.drug} done: peak ${Math.max(...concentrations)} mg/L; result written to result.json`);
}

/**
 * The parameters: one JSON argument, or four (`DRUG DOSE_MG HOURS STEP_MS`) as the `simulate`
 * task template passes them, each its own argv entry.
 */
function parseParams(args: string[]): SimulationParams {
  if (args.length === 4) {
    const [drug, doseMg, hours, stepMs] = args as [string, string, string, string];
    return { drug, doseMg: Number(doseMg), hours: Number(hours), stepMs: Number(stepMs) };
  }
  const raw = JSON.parse(args[0] ?? "{}") as Partial<SimulationParams>;
  return { drug: raw.drug ?? "caffeine", doseMg: raw.doseMg ?? 200, hours: raw.hours ?? 24, stepMs: raw.stepMs ?? 100 };
}

if (import.meta.main) await simulate(parseParams(process.argv.slice(2)));
