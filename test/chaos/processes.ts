/**
 * Which processes a chaos scenario started are still alive, read from /proc. A task of a
 * scenario carries the scenario's marker twice: in its command line (`: chaos-<tag>; …`) and,
 * inherited by every child it forks, in its environment (`CHAOS_TAG=<tag>`). A zombie counts
 * as dead: this container's PID 1 does not reap the orphans it inherits.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isRunning } from "../fixtures/proc-inspect.ts";

export interface Survivor {
  pid: number;
  cmdline: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

export function survivors(tag: string): Survivor[] {
  const marker = `chaos-${tag}`;
  const envEntry = `CHAOS_TAG=${tag}`;
  const found: Survivor[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const cmdline = read(`/proc/${pid}/cmdline`)?.replaceAll("\0", " ").trim() ?? "";
    const environ = read(`/proc/${pid}/environ`)?.split("\0") ?? [];
    if (!cmdline.includes(marker) && !environ.includes(envEntry)) continue;
    if (isRunning(pid)) found.push({ pid, cmdline });
  }
  return found;
}

/** Test cleanup: SIGKILL whatever a scenario left behind, so one failure does not leak into the next. */
export function killSurvivors(tag: string): void {
  for (const { pid } of survivors(tag)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
