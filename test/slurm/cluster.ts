/**
 * The one-node Slurm cluster of the tests (scripts/slurm-cluster.sh, started by .ci/run).
 * `noSlurm` says why the cluster tests cannot run here, or is null when they can.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const defaultConf = "/tmp/belay-slurm/slurm.conf";
if (process.env["SLURM_CONF"] === undefined && existsSync(defaultConf)) process.env["SLURM_CONF"] = defaultConf;

function probe(): string | null {
  try {
    execFileSync("sinfo", ["-h", "-o", "%t"], { stdio: ["ignore", "pipe", "pipe"], timeout: 5000 });
    return null;
  } catch (error) {
    const message = (error as { code?: string }).code === "ENOENT" ? "sinfo not found" : ((error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message);
    return `no Slurm cluster answers (${message.slice(0, 200)}); start one with: scripts/slurm-cluster.sh start`;
  }
}

export const noSlurm: string | null = probe();

/** The cluster's state of a Slurm job (squeue `-t all`), or null once it has left squeue. */
export function slurmState(slurmJobId: string): string | null {
  try {
    const out = execFileSync("squeue", ["-h", "-t", "all", "-j", slurmJobId, "-o", "%T"], { encoding: "utf8" }).trim();
    return out === "" ? null : out;
  } catch {
    return null;
  }
}

/** `scontrol show job` fields of a Slurm job. */
export function slurmShow(slurmJobId: string): Record<string, string> {
  const out = execFileSync("scontrol", ["show", "job", "-o", slurmJobId], { encoding: "utf8" });
  return Object.fromEntries(out.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}
