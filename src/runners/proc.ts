/**
 * Linux `/proc` helpers for process groups.
 *
 * Why `/proc` and not just `kill(-pgid, 0)`: a process group can hold zombies (exited
 * members whose parent has not reaped them yet; in a container PID 1 may never reap), and
 * `kill(-pgid, 0)` succeeds for a group of zombies. A zombie holds no resources and cannot
 * be killed, so every helper here ignores zombies (state `Z`) and dead tasks (state `X`),
 * consistently: a group of zombies is "gone".
 *
 * Why start times: pids (and so pgids) are reused — `pid_max` is often 32768 — so a pid
 * recorded by an engine that crashed may name an unrelated process by the time a new
 * engine looks at it. `/proc/<pid>/stat` field 22 (start time in clock ticks since boot)
 * plus the pid identifies one process for the life of the machine.
 */
import { readdirSync, readFileSync } from "node:fs";

/** The fields of `/proc/<pid>/stat` Belay uses. */
export interface ProcStat {
  pid: number;
  /** The executable name (`comm`), at most 15 bytes; may contain spaces and parentheses. */
  comm: string;
  /** One letter: R, S, D, Z (zombie), T, t, X (dead), I, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: start time in clock ticks since boot, as a decimal string (it can exceed 2^53 in theory). */
  startTime: string;
}

/**
 * Parse the text of `/proc/<pid>/stat`. Returns null when it does not have the expected shape.
 *
 * The second field is `(comm)`, and comm is chosen by whoever named the executable: it may
 * contain spaces and `)` (e.g. `x) (y z`). So the fields are split only after the LAST `)`.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const session = Number(rest[3]);
  const startTime = rest[22 - 3];
  if (
    !Number.isInteger(pid) ||
    state === undefined ||
    !Number.isInteger(ppid) ||
    !Number.isInteger(pgrp) ||
    !Number.isInteger(session) ||
    startTime === undefined ||
    !/^\d+$/.test(startTime)
  ) {
    return null;
  }
  return { pid, comm, state, ppid, pgrp, session, startTime };
}

/** `/proc/<pid>/stat` parsed, or null if there is no such process (or it vanished while we read). */
export function readProcStat(pid: number): ProcStat | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** True for a process that still exists and can still run (not a zombie, not dead). */
function isLiveState(state: string): boolean {
  return state !== "Z" && state !== "X" && state !== "x";
}

/** Start time of `pid` in clock ticks since boot (field 22), or null if no such process. Zombies still have one. */
export function readProcessStartTime(pid: number): string | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** Process group id of `pid`, or null if no such process. */
export function readProcessGroup(pid: number): number | null {
  return readProcStat(pid)?.pgrp ?? null;
}

/** Every live (non-zombie) process of the system, read from `/proc/<pid>/stat`. */
function listLiveProcesses(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    // A process may exit between readdir and read: readProcStat then returns null.
    const stat = readProcStat(Number(name));
    if (stat !== null && isLiveState(stat.state)) out.push(stat);
  }
  return out;
}

/** Pids of the live (non-zombie) processes whose process group is `pgid`, in ascending order. */
export function listGroupMembers(pgid: number): number[] {
  return listGroupMemberStats(pgid).map((s) => s.pid);
}

function listGroupMemberStats(pgid: number): ProcStat[] {
  if (!Number.isInteger(pgid) || pgid <= 0) return [];
  return listLiveProcesses()
    .filter((s) => s.pgrp === pgid)
    .sort((a, b) => a.pid - b.pid);
}

/** True while at least one live (non-zombie) process belongs to process group `pgid`. */
export function isGroupAlive(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 0) return false;
  // Fast path: ESRCH means the group has no member at all, not even a zombie; no need to
  // scan /proc. When the kernel says it exists we still scan, because zombies count there.
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if (errnoOf(error) === "ESRCH") return false;
    // EPERM: a member we may not signal exists; let the scan decide.
  }
  return listGroupMemberStats(pgid).length > 0;
}

/**
 * Send `signal` to every process of group `pgid` (`kill(-pgid, signal)`).
 * Returns true when delivered, false when the group does not exist (ESRCH).
 * Other errors (EPERM, EINVAL) are thrown: they are bugs, not races.
 */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  // kill(-1) would signal every process we may signal, and kill(-0) our own group: never.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`refusing to signal process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if (errnoOf(error) === "ESRCH") return false;
    throw error;
  }
}

/** Compare two decimal start times (strings, to stay exact beyond 2^53). */
function compareStartTimes(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Crash recovery: SIGKILL what is left of a process group that a previous engine started
 * (pgid = the leader's pid) and recorded with the leader's start time.
 *
 * Why these checks — the pgid may have been reused since the crash:
 * - If a process with pid == pgid is alive, it must be our leader: its start time must be
 *   exactly `leaderStartTime`. If it differs, that pid now belongs to some other process,
 *   which may lead a group of its own: nothing is ours, nothing is killed.
 * - Every member is killed only if it started at or after our leader (a process cannot
 *   join a group before the group exists, and our descendants all started after their
 *   ancestor). A process that started earlier cannot be one of ours.
 * While any member of a group lives, the kernel does not hand its pgid out again, so the
 * members found are ours unless the whole group had died and the pid was reused by a new
 * leader that then died too, leaving members: that case is indistinguishable here, and so
 * unlikely (pid wrap-around plus a new group exactly on that pid) that we accept it.
 *
 * Members are killed one by one (not `kill(-pgid)`) so that only the checked ones are
 * hit. A member may fork between the scan and the kill, so we scan again until no
 * matching member is left (bounded number of rounds).
 */
export function killOrphanGroup(pgid: number, leaderStartTime: string): { killed: number } {
  if (!Number.isInteger(pgid) || pgid <= 1 || !/^\d+$/.test(leaderStartTime)) return { killed: 0 };
  const leader = readProcStat(pgid);
  if (leader !== null && isLiveState(leader.state) && leader.startTime !== leaderStartTime) {
    return { killed: 0 };
  }
  const killed = new Set<number>();
  for (let round = 0; round < 20; round++) {
    const members = listGroupMemberStats(pgid).filter((s) => compareStartTimes(s.startTime, leaderStartTime) >= 0);
    if (members.length === 0) break;
    for (const member of members) {
      if (member.pid === process.pid) continue; // never ourselves, whatever the group says
      try {
        process.kill(member.pid, "SIGKILL");
        killed.add(member.pid);
      } catch (error) {
        if (errnoOf(error) !== "ESRCH") throw error;
      }
    }
  }
  return { killed: killed.size };
}

/**
 * SIGKILL every live process whose environment says it belongs to this task attempt
 * (`BELAY_JOB_ID`, `BELAY_TASK_KEY`, `BELAY_ATTEMPT`, which the process runner sets and
 * children inherit). The safety net for a runner spawned by a node that died before it
 * could record the pid. A process that rewrote its environment escapes it; one of another
 * user cannot be read and is skipped.
 */
export function killTaskProcesses(attempts: ReadonlyArray<{ jobId: string; taskKey: string; attempt: number }>): { killed: number } {
  if (attempts.length === 0) return { killed: 0 };
  const wanted = new Set(attempts.map((a) => `${a.jobId}\0${a.taskKey}\0${a.attempt}`));
  let killed = 0;
  for (const stat of listLiveProcesses()) {
    if (stat.pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${stat.pid}/environ`, "latin1");
    } catch {
      continue;
    }
    const vars = new Map(environ.split("\0").map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
    if (!wanted.has(`${vars.get("BELAY_JOB_ID")}\0${vars.get("BELAY_TASK_KEY")}\0${vars.get("BELAY_ATTEMPT")}`)) continue;
    try {
      process.kill(stat.pid, "SIGKILL");
      killed += 1;
    } catch (error) {
      if (errnoOf(error) !== "ESRCH") throw error;
    }
  }
  return { killed };
}

function errnoOf(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : undefined;
}
