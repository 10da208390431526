/**
 * `--run-as-uids`: one range per Belay node on a machine. Each node hands its uids out from
 * memory, so two nodes given overlapping ranges could give one uid to two tasks at once.
 * A node therefore records its range in a machine-wide directory while it runs, and refuses
 * to start on a range that overlaps one a live node recorded. A record's owner is its pid
 * and that process's start time, so the record of a node that died (or whose pid was
 * reused) is recognised as stale and removed.
 *
 * Two nodes starting in the same instant can still both miss the other: the check guards
 * against a mistake in configuration, not a race between starts.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { readProcessStartTime } from "./proc.ts";

/** Where live nodes record their ranges: tmpfs, so a reboot forgets them with the processes. */
export const defaultUidRangeDir = "/run/belay-uid-ranges";

interface RangeRecord {
  pid: number;
  startTime: string | null;
  start: number;
  end: number;
}

export class UidRangeClaim {
  readonly #path: string;

  private constructor(path: string) {
    this.#path = path;
  }

  /** Record `range` for this node; throws naming the live node whose range overlaps. */
  static take(range: { start: number; end: number }, dir: string = defaultUidRangeDir): UidRangeClaim {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      if (!name.endsWith(".json")) continue;
      const path = join(dir, name);
      let other: Partial<RangeRecord> = {};
      try {
        other = JSON.parse(readFileSync(path, "utf8")) as Partial<RangeRecord>;
      } catch {
        // Half-written or gone meanwhile: judged by its owner below (none: stale).
      }
      const alive = typeof other.pid === "number" && readProcessStartTime(other.pid) === other.startTime;
      if (!alive) {
        rmSync(path, { force: true });
        continue;
      }
      if (typeof other.start === "number" && typeof other.end === "number" && other.start <= range.end && range.start <= other.end) {
        throw new Error(
          `--run-as-uids ${range.start}-${range.end} overlaps ${other.start}-${other.end}, the range of the Belay node with pid ${String(other.pid)} on this machine ` +
            `(${path}): two nodes could give one uid to two tasks at once; give each node its own range`,
        );
      }
    }
    const record: RangeRecord = { pid: process.pid, startTime: readProcessStartTime(process.pid), start: range.start, end: range.end };
    const path = join(dir, `${range.start}-${range.end}.${process.pid}.${randomBytes(4).toString("hex")}.json`);
    writeFileSync(path, JSON.stringify(record), { flag: "wx", mode: 0o600 });
    return new UidRangeClaim(path);
  }

  release(): void {
    rmSync(this.#path, { force: true });
  }
}
