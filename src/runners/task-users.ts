/**
 * Which uid/gid a process task runs under (DESIGN §6, "What a task sees").
 *
 * - `--run-as USER`: every task shares one uid (`OneTaskUser`).
 * - `--run-as-uids START-END`: each running attempt holds a uid of the range that nothing
 *   else on the machine is using (`TaskUidRange`), like systemd's DynamicUser. Tasks that
 *   run at the same time then cannot read each other's work dirs, `/proc/<pid>/environ`
 *   (which holds resolved secrets) nor signal each other: the kernel's own uid checks.
 *
 * A uid is handed back only once its attempt's process group is gone; then every process
 * still running as that uid (one that left the group: setsid, a double-forked daemon) is
 * killed, so the next attempt to get the uid inherits nothing that runs.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { UidRangeClaim } from "./uid-range-claim.ts";

export interface TaskUser {
  uid: number;
  gid: number;
}

export interface TaskUsers {
  /** The user of an attempt about to start; throws, saying why, when none is free. */
  acquire(): TaskUser;
  /** Kill whatever still runs as `user` (its group is gone): nothing may outlive the attempt under its uid. */
  reap(user: TaskUser): void;
  /** The attempt is over and its files are taken back: `user` may be handed out again. */
  release(user: TaskUser): void;
  /** The node is stopping: give up what it holds on the machine. */
  close?(): void;
}

/** `--run-as USER`: one user for every task; nothing to hand out or reap (other tasks share it). */
export class OneTaskUser implements TaskUsers {
  readonly #user: TaskUser;
  constructor(user: TaskUser) {
    this.#user = { uid: user.uid, gid: user.gid };
  }
  acquire(): TaskUser {
    return this.#user;
  }
  reap(): void {}
  release(): void {}
}

/** `--run-as-uids START-END`: a uid of the range per running attempt; gid = the uid unless a shared gid is given. */
export class TaskUidRange implements TaskUsers {
  readonly #start: number;
  readonly #end: number;
  readonly #gid: number | null;
  readonly #held = new Set<number>();
  #claim: UidRangeClaim | null = null;

  constructor(range: { start: number; end: number; gid: number | null }) {
    this.#start = range.start;
    this.#end = range.end;
    this.#gid = range.gid;
  }

  /** Record the range machine-wide for as long as the node runs; throws if a live node's range overlaps it (`UidRangeClaim`). */
  claimOnMachine(dir?: string): void {
    this.#claim ??= UidRangeClaim.take({ start: this.#start, end: this.#end }, dir);
  }

  close(): void {
    this.#claim?.release();
    this.#claim = null;
  }

  /** How many uids the range holds. */
  get size(): number {
    return this.#end - this.#start + 1;
  }

  /** The uids held by attempts of this runner now (for tests and diagnostics). */
  get held(): number[] {
    return [...this.#held].sort((a, b) => a - b);
  }

  /**
   * The lowest uid of the range that no running attempt of this node holds and no live
   * process on the machine uses: a process left by a node that crashed, or by another
   * node given an overlapping range, keeps its uid out of reach until it is gone.
   */
  acquire(): TaskUser {
    const inUse = uidsOfLiveProcesses();
    let busyElsewhere = 0;
    for (let uid = this.#start; uid <= this.#end; uid++) {
      if (this.#held.has(uid)) continue;
      if (inUse.has(uid)) {
        busyElsewhere++;
        continue;
      }
      this.#held.add(uid);
      return { uid, gid: this.#gid ?? uid };
    }
    throw new Error(
      `no free uid in --run-as-uids ${this.#start}-${this.#end}: ${this.#held.size} held by tasks running on this node` +
        `${busyElsewhere > 0 ? `, ${busyElsewhere} used by other processes on this machine (left by a crashed node, or another node given an overlapping range)` : ""}; ` +
        "give a larger range (one uid per task running at once)",
    );
  }

  reap(user: TaskUser): void {
    // kill(-1, SIGKILL) from a process running as the uid reaches exactly the processes of
    // that uid (and never the sender itself): no pid is read first, so none can have been
    // reused. A process forking meanwhile can leave a child that missed it: try again.
    for (let round = 0; round < 5 && uidsOfLiveProcesses().has(user.uid); round++) {
      spawnSync("/bin/sh", ["-c", "kill -KILL -1"], { uid: user.uid, gid: user.gid, stdio: "ignore", env: { PATH: "/usr/bin:/bin" }, cwd: "/", timeout: 5000 });
    }
  }

  release(user: TaskUser): void {
    this.reap(user);
    this.#held.delete(user.uid);
  }
}

/** Every uid (real, effective, saved, filesystem) of a live process on this machine; zombies hold nothing. */
export function uidsOfLiveProcesses(): Set<number> {
  const uids = new Set<number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return uids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (state === "Z" || state === "X") continue;
    const line = /^Uid:\s+(.*)$/m.exec(status)?.[1];
    if (line === undefined) continue;
    for (const id of line.trim().split(/\s+/)) uids.add(Number(id));
  }
  return uids;
}
