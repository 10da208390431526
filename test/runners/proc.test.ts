import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  isGroupAlive,
  killGroup,
  killOrphanGroup,
  listGroupMembers,
  parseProcStat,
  readProcStat,
  readProcessGroup,
  readProcessStartTime,
} from "../../src/runners/proc.ts";
import { eventually, isRunning, killGroupQuietly, liveGroupMembers, startTimeOf } from "../fixtures/proc-inspect.ts";

const groups: number[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const pgid of groups.splice(0)) killGroupQuietly(pgid);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts `sh -c script` in a new process group (as a crashed engine would have left it) and
 * waits until it printed `count` lines `pid <n>`; returns the leader's pid and the printed pids.
 */
async function spawnGroup(script: string, count: number): Promise<{ child: ChildProcess; pgid: number; pids: number[] }> {
  const child = spawn("/bin/sh", ["-c", script], { detached: true, stdio: ["ignore", "pipe", "inherit"] });
  const pgid = child.pid!;
  groups.push(pgid);
  const pids: number[] = [];
  let buffer = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`group did not print ${count} pids`)), 10_000);
    if (count === 0) {
      clearTimeout(timer);
      resolve();
      return;
    }
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      for (const match of buffer.matchAll(/pid (\d+)\n/g)) pids.push(Number(match[1]));
      buffer = buffer.replace(/pid (\d+)\n/g, "");
      if (pids.length >= count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, pgid, pids };
}

describe("parseProcStat", () => {
  it("parses fields after the last ')' so a comm with spaces and parentheses does not shift them", () => {
    const fields = ["S", "10", "4242", "4242", "0", "-1", "4194560", "1", "0", "0", "0", "0", "0", "0", "0", "20", "0", "1", "0", "987654"];
    const stat = parseProcStat(`4242 (a) b (c) d) ${fields.join(" ")} 1234 5678\n`);
    expect(stat).toEqual({ pid: 4242, comm: "a) b (c) d", state: "S", ppid: 10, pgrp: 4242, session: 4242, startTime: "987654" });
  });

  it("rejects text that is not a stat line", () => {
    expect(parseProcStat("")).toBeNull();
    expect(parseProcStat("12 (x) S 1 2")).toBeNull();
  });
});

describe("reading /proc", () => {
  it("reads the start time and group of this process and null for a missing pid", () => {
    expect(readProcessStartTime(process.pid)).toBe(startTimeOf(process.pid));
    expect(readProcessStartTime(process.pid)).toMatch(/^\d+$/);
    expect(readProcessGroup(process.pid)).toBe(readProcStat(process.pid)!.pgrp);
    // pid_max is at most 2^22: this pid cannot exist.
    expect(readProcessStartTime(2 ** 22 + 1)).toBeNull();
    expect(readProcessGroup(2 ** 22 + 1)).toBeNull();
    expect(readProcessStartTime(-1)).toBeNull();
  });

  it("parses a real process whose executable name contains spaces and parentheses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "belay-proc-"));
    dirs.push(dir);
    const weird = join(dir, "x) (y z");
    symlinkSync("/bin/sleep", weird);
    const child = spawn(weird, ["30"], { detached: true, stdio: "ignore" });
    const pid = child.pid!;
    groups.push(pid);
    await eventually(() => readProcStat(pid)?.comm === "x) (y z", 5_000, "exec of the weirdly named binary");
    const stat = readProcStat(pid)!;
    expect(stat.pgrp).toBe(pid);
    expect(stat.session).toBe(pid);
    expect(stat.ppid).toBe(process.pid);
    expect(stat.startTime).toBe(startTimeOf(pid));
    expect(readProcessGroup(pid)).toBe(pid);
  });
});

describe("process groups", () => {
  it("lists the live members of a group, signals them, and sees the group gone", async () => {
    const { pgid, pids } = await spawnGroup("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait", 2);
    expect(listGroupMembers(pgid)).toEqual([pgid, ...pids].sort((a, b) => a - b));
    expect(listGroupMembers(pgid)).toEqual(liveGroupMembers(pgid).sort((a, b) => a - b));
    expect(isGroupAlive(pgid)).toBe(true);

    expect(killGroup(pgid, "SIGKILL")).toBe(true);
    // The leader is our child: it may stay a zombie until Node reaps it. Zombies do not count.
    await eventually(() => !isGroupAlive(pgid), 10_000, "the group to die");
    expect(listGroupMembers(pgid)).toEqual([]);
    expect(liveGroupMembers(pgid)).toEqual([]);
  });

  it("killGroup returns false for a group that does not exist and refuses pgid <= 1", () => {
    expect(killGroup(2 ** 22 + 1, "SIGTERM")).toBe(false);
    expect(() => killGroup(1, "SIGKILL")).toThrow();
    expect(() => killGroup(0, "SIGKILL")).toThrow();
    expect(isGroupAlive(2 ** 22 + 1)).toBe(false);
  });
});

describe("killOrphanGroup", () => {
  it("kills every member of a group whose leader has the recorded start time", async () => {
    const { pgid, pids } = await spawnGroup("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait", 2);
    const leaderStart = startTimeOf(pgid)!;
    const starts = pids.map((pid) => startTimeOf(pid));

    expect(killOrphanGroup(pgid, leaderStart)).toEqual({ killed: 3 });
    await eventually(() => liveGroupMembers(pgid).length === 0, 10_000, "the orphan group to die");
    expect(isRunning(pgid, leaderStart)).toBe(false);
    pids.forEach((pid, i) => expect(isRunning(pid, starts[i])).toBe(false));
  });

  it("kills the members left behind when the leader is already dead", async () => {
    const { child, pgid, pids } = await spawnGroup("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait", 2);
    const leaderStart = startTimeOf(pgid)!;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(pgid, "SIGKILL"); // the leader only
    await exited;
    expect(liveGroupMembers(pgid).sort()).toEqual([...pids].sort());

    expect(killOrphanGroup(pgid, leaderStart)).toEqual({ killed: 2 });
    await eventually(() => liveGroupMembers(pgid).length === 0, 10_000, "the members to die");
  });

  it("kills nothing when the live leader's start time differs (the pid was reused)", async () => {
    const { pgid, pids } = await spawnGroup("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait", 2);
    const leaderStart = startTimeOf(pgid)!;
    const later = (BigInt(leaderStart) + 1000n).toString();
    const earlier = (BigInt(leaderStart) - 1n).toString();

    expect(killOrphanGroup(pgid, later)).toEqual({ killed: 0 });
    expect(killOrphanGroup(pgid, earlier)).toEqual({ killed: 0 });
    expect(isRunning(pgid, leaderStart)).toBe(true);
    pids.forEach((pid) => expect(isRunning(pid)).toBe(true));
  });

  it("with the leader gone, spares members that started before the recorded start time", async () => {
    const { child, pgid, pids } = await spawnGroup("sleep 300 & echo pid $!; sleep 300 & echo pid $!; wait", 2);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(pgid, "SIGKILL");
    await exited;
    // As if the recorded group had started after these processes: they cannot be ours.
    const later = (BigInt(startTimeOf(pids[1]!)!) + 1000n).toString();

    expect(killOrphanGroup(pgid, later)).toEqual({ killed: 0 });
    pids.forEach((pid) => expect(isRunning(pid)).toBe(true));
  });

  it("is a no-op for a group that no longer exists or bad input", () => {
    expect(killOrphanGroup(2 ** 22 + 1, "12345")).toEqual({ killed: 0 });
    expect(killOrphanGroup(1, "0")).toEqual({ killed: 0 });
    expect(killOrphanGroup(process.pid, "not-a-number")).toEqual({ killed: 0 });
  });
});
