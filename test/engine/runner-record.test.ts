/**
 * The runner row of a started process (how a later node finds what outlived this one) is
 * written after the spawn. A database away for a moment then must neither fail the attempt
 * nor leave the process running unrecorded (found by the PostgreSQL-faults test: a job
 * submitted while every connection was being terminated ended `failed`, "could not start",
 * although its process had run).
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { BelayError } from "../../src/core/errors.ts";
import type { Belay } from "../../src/engine/engine.ts";
import { openTestEngine, until, untilJobStatus } from "../helpers.ts";

const engines: Belay[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** Make the store's insertRunner fail with `error` while `failing()` says so; the calls it saw. */
function failInsertRunner(engine: Belay, failing: () => boolean, error: () => Error): { calls: number } {
  const seen = { calls: 0 };
  const store = engine.store as unknown as { insertRunner: (...args: unknown[]) => Promise<void> };
  const insert = store.insertRunner.bind(store);
  store.insertRunner = async (...args: unknown[]) => {
    seen.calls += 1;
    if (failing()) throw error();
    return insert(...args);
  };
  return seen;
}

function liveProcessesWith(marker: string): number[] {
  return readdirSync("/proc").filter((name) => {
    if (!/^\d+$/.test(name)) return false;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      return state !== "Z" && readFileSync(`/proc/${name}/cmdline`, "utf8").includes(marker);
    } catch {
      return false;
    }
  }).map(Number);
}

describe("recording a started runner", () => {
  it("a connection lost while the runner row is written is retried: the attempt goes on and ends as its process does", async () => {
    const engine = await openTestEngine();
    engines.push(engine);
    let failures = 2;
    // A connection error (not a BelayError): what pg throws when its backend is terminated.
    const seen = failInsertRunner(engine, () => failures-- > 0, () => Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }));
    const job = await engine.submitJob({ command: "sleep 0.3; echo ran" });
    const done = await untilJobStatus(engine, job.id, "succeeded");
    expect(done.tasks[0]).toMatchObject({ status: "succeeded", attempt: 1, exitCode: 0, error: null });
    expect(seen.calls).toBe(3);
    const runners = await engine.store.jobRunners(job.id);
    expect(runners).toHaveLength(1);
    expect(runners[0]?.pid).not.toBeNull();
  });

  it("a runner row the store refuses stops the process it would have recorded: nothing runs on unrecorded", async () => {
    const engine = await openTestEngine();
    engines.push(engine);
    failInsertRunner(engine, () => true, () => new BelayError("INVALID_REQUEST", "refused by the test"));
    const marker = `belay-unrecorded-${process.pid}-${Date.now()}`;
    const job = await engine.submitJob({ command: `sleep 60 # ${marker}` });
    const done = await untilJobStatus(engine, job.id, "failed");
    expect(done.tasks[0]?.error).toMatch(/^started, but could not be recorded: refused by the test/);
    expect(await until(async () => liveProcessesWith(marker), (pids) => pids.length === 0)).toEqual([]);
  });
});
