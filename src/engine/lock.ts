/**
 * One engine per SQLite file: crash recovery treats every runner recorded in the file as an
 * orphan of a dead engine, which is only true if no other live engine uses it. The lock file
 * holds the owner's pid and process start time, so a stale lock (its owner died, or its pid
 * was reused by another process) is recognised and taken over.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { readProcessStartTime } from "../runners/proc.ts";

export class EngineLock {
  private readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  static acquire(path: string): EngineLock {
    const me = { pid: process.pid, startTime: readProcessStartTime(process.pid) };
    for (let i = 0; i < 2; i += 1) {
      try {
        writeFileSync(path, JSON.stringify(me), { flag: "wx", mode: 0o600 });
        return new EngineLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      let owner: { pid?: number; startTime?: string | null } = {};
      try {
        owner = JSON.parse(readFileSync(path, "utf8")) as typeof owner;
      } catch {
        // Unreadable or half-written lock: treat as stale.
      }
      const alive = typeof owner.pid === "number" && owner.pid !== process.pid && readProcessStartTime(owner.pid) === owner.startTime;
      if (alive) {
        throw new Error(`another Belay engine (pid ${owner.pid}) is using this database (lock ${path}); stop it first`);
      }
      rmSync(path, { force: true });
    }
    throw new Error(`could not take the engine lock ${path}`);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
