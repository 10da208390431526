/**
 * The job spec of one VQE run on Slurm: `vqe.sh` as the batch script. Printed as JSON when
 * run (`node examples/slurm-vqe/job.ts > vqe.json; belay submit vqe.json`).
 */
import { readFileSync } from "node:fs";
import type { JobSpecInput } from "../../src/core/spec.ts";

export function vqeJob(options: { steps?: number; stepSeconds?: number; molecule?: string } = {}): JobSpecInput {
  return {
    name: `vqe-${options.molecule ?? "H2"}`,
    labels: { seed: "001", backend: "slurm" },
    graceMs: 10_000,
    tasks: [{
      key: "vqe",
      kind: "slurm",
      script: readFileSync(new URL("./vqe.sh", import.meta.url), "utf8"),
      time: "10",
      cpus: 1,
      env: { STEPS: String(options.steps ?? 120), STEP_SECONDS: String(options.stepSeconds ?? 0.5), MOLECULE: options.molecule ?? "H2" },
    }],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(vqeJob(), null, 2));
