/**
 * examples/agent-orchestrator (seed 004): the example's own spec, submitted with the real
 * `belay` CLI to a real server with a `repo` pool, then the README's commands exactly:
 * one agent stopped with `--task … --no-cascade` (its dependents keep waiting, the others
 * keep working), the rest force-stopped with `--reason … --force`, the record read back
 * with `cancel-status` and the history with `cancellations --limit 1`; then a run where only
 * the docs agent is stopped and the rest finishes without it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { CancellationRecord, Job, Task } from "../../src/core/model.ts";
import { parseJson, startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";
import { until } from "../helpers.ts";

/** Relative to the repository root, where the CLI runs — as in the README. */
const specFile = "examples/agent-orchestrator/agents.yaml";
const agents = ["agent-api", "agent-web", "agent-docs"];

let s: CliServer;
beforeAll(async () => {
  // As the README's `npx belay serve --pool repo=3`: one checkout per coding agent.
  s = await startCliServer({ pools: { repo: 3 }, concurrency: 8 });
});
afterAll(async () => {
  await s?.close();
});

function task(job: Job, key: string): Task {
  const found = job.tasks.find((t) => t.key === key);
  if (found === undefined) throw new Error(`job ${job.id} has no task ${key}`);
  return found;
}

function commits(id: string, key: string): string[] {
  const dir = join(s.home, "artifacts", id, key, "commits");
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function readJob(id: string): Promise<Job> {
  return (await s.client.getJob(id)).job;
}

// The steps share one job, in order, like the README's walk-through.
describe("examples/agent-orchestrator", () => {
  let id: string;
  let record: CancellationRecord;

  it("submits the job: a planner, then three coding agents at work, each holding a checkout of the repo pool", async () => {
    const submitted = await s.run(["job", "submit", specFile, "--json"]);
    expect(submitted.code).toBe(0);
    id = parseJson<{ job: Job }>(submitted).job.id;

    // Never cancelled yet: there is no record to show (exit 3, NOT_FOUND).
    const none = await s.run(["job", "cancel-status", id]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain("(NOT_FOUND)");

    // The three coding agents work, each in a checkout of the pool, each with a commit made.
    await until(() => readJob(id), (j) => agents.every((k) => task(j, k).status === "running" && commits(id, k).length > 0), 20_000);
    expect((await s.server.engine.pools())["repo"]?.holders).toHaveLength(3);
  }, 30_000);

  it("`job cancel --task agent-docs --no-cascade` stops that agent alone: its dependent review still waits for the others", async () => {
    // review will run as if agent-docs had been skipped.
    const one = await s.run(["job", "cancel", id, "--task", "agent-docs", "--no-cascade", "--reason", "docs agent is looping", "--json"]);
    expect(one.stderr).toBe("");
    expect(one.code).toBe(0);
    const taskCancel = parseJson<{ job: Job; cancellation: CancellationRecord }>(one);
    expect(taskCancel.cancellation).toMatchObject({ scope: "task", taskKey: "agent-docs", cascade: false, status: "completed", reason: "docs agent is looping" });
    expect(taskCancel.cancellation.affectedTasks).toEqual([{ key: "agent-docs", from: "running", to: "cancelled" }]);
    expect(taskCancel.cancellation.runnersTerminated).toEqual({ graceful: 1, forced: 0 });
    expect(taskCancel.job.status).toBe("running");
    const job = await readJob(id);
    expect(task(job, "agent-docs").status).toBe("cancelled");
    expect(task(job, "agent-api").status).toBe("running");
    expect(task(job, "agent-web").status).toBe("running");
    for (const key of ["review", "integration-tests", "merge"]) expect(task(job, key).status).toBe("pending");
    // Given its grace period, the docs agent saved its work in progress before exiting.
    const docs = join(s.home, "artifacts", id, "agent-docs");
    expect(readFileSync(join(docs, "wip.patch"), "utf8")).toMatch(/^# agent-docs: uncommitted work, stopped during step \d+/);
    expect(existsSync(join(docs, "changes.patch"))).toBe(false);
    // Its checkout slot went back to the pool.
    expect((await s.server.engine.pools())["repo"]?.holders).toHaveLength(2);
  }, 30_000);

  it("`job cancel --reason … --force` kills the running agents at once, cancels the pending tasks and runs the compensation", async () => {
    const all = await s.run(["job", "cancel", id, "--reason", "requirements changed", "--force", "--json"]);
    expect(all.stderr).toBe("");
    expect(all.code).toBe(0);
    const jobCancel = parseJson<{ job: Job; cancellation: CancellationRecord }>(all);
    expect(jobCancel.job.status).toBe("cancelled");
    record = jobCancel.cancellation;
    expect(record).toMatchObject({ scope: "job", force: true, status: "completed", reason: "requirements changed", requestedBy: "admin" });
    expect(record.runnersTerminated).toEqual({ graceful: 0, forced: 2 });
    for (const key of ["agent-api", "agent-web"]) {
      expect(record.tasks.find((t) => t.key === key)).toMatchObject({ outcome: "mid_run", mode: "forced" });
      expect(record.affectedTasks).toContainEqual({ key, from: "running", to: "cancelled" });
    }
    for (const key of ["review", "integration-tests", "merge"]) {
      expect(record.tasks.find((t) => t.key === key)).toMatchObject({ outcome: "before_start", signalledAt: null });
      expect(record.affectedTasks).toContainEqual({ key, from: "pending", to: "cancelled" });
    }
    expect(record.compensation).toMatchObject([{ key: "discard-branches", status: "succeeded" }]);
    expect(jobCancel.job.tasks.filter((t) => t.startedAt !== null && t.runOn === "normal").map((t) => t.key).sort()).toEqual(["agent-api", "agent-docs", "agent-web", "plan"]);

    // Forced: no time to save work in progress, but every commit made before is kept. The
    // compensation task saw all three, and every checkout is back in the pool.
    for (const key of ["agent-api", "agent-web"]) {
      expect(existsSync(join(s.home, "artifacts", id, key, "wip.patch"))).toBe(false);
      expect(commits(id, key).length).toBeGreaterThan(0);
    }
    const discarded = readFileSync(join(s.home, "artifacts", id, "discard-branches", "discarded.txt"), "utf8");
    expect(discarded).toMatch(/^discarded branch agents\/agent-api: \d+ commits kept, killed, no work in progress saved$/m);
    expect(discarded).toMatch(/^discarded branch agents\/agent-docs: \d+ commits kept, stopped, work in progress saved$/m);
    expect(discarded).toMatch(/^discarded branch agents\/agent-web: \d+ commits kept, killed, no work in progress saved$/m);
    expect((await s.server.engine.pools())["repo"]?.holders).toEqual([]);
  }, 30_000);

  it("`job cancel-status` shows the record step by step: force skipped the wait and killed at once", async () => {
    const status = await s.run(["job", "cancel-status", id, "--json"]);
    expect(status.code).toBe(0);
    const read = parseJson<{ cancellation: CancellationRecord }>(status).cancellation;
    expect(read.id).toBe(record.id);
    expect(read.steps.map((step) => [step.name, step.status])).toEqual([
      ["block_dispatch", "completed"],
      ["cancel_pending_tasks", "completed"],
      ["signal_runners", "completed"],
      ["await_runners", "skipped"],
      ["force_kill", "completed"],
      ["cleanup", "completed"],
      ["compensate", "completed"],
      ["finalize", "completed"],
    ]);
    expect(read.steps.find((step) => step.name === "force_kill")?.detail).toMatchObject({ killed: 2 });
    const table = await s.run(["job", "cancel-status", id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^reason\s+requirements changed$/m);
    expect(table.stdout).toMatch(/^force_kill\s+completed\s/m);
    expect(table.stdout).toMatch(/^agent-api\s+1\s+mid_run\s+forced\s/m);
    expect(table.stdout).toContain("runners stopped: 0 graceful, 2 forced");
  }, 30_000);

  it("`job cancellations --limit 1` lists the latest record; --job lists both of this job", async () => {
    const latest = await s.run(["job", "cancellations", "--limit", "1", "--json"]);
    expect(latest.code).toBe(0);
    const page = parseJson<{ items: CancellationRecord[]; total: number }>(latest);
    expect(page.items.map((c) => c.id)).toEqual([record.id]);
    expect(page.total).toBe(2);
    const ofJob = parseJson<{ items: CancellationRecord[] }>(await s.run(["job", "cancellations", "--job", id, "--json"]));
    expect(ofJob.items.map((c) => [c.scope, c.taskKey, c.reason])).toEqual([
      ["job", null, "requirements changed"],
      ["task", "agent-docs", "docs agent is looping"],
    ]);
    const human = await s.run(["job", "cancellations", "--limit", "1"]);
    expect(human.stdout).toMatch(new RegExp(`^${record.id}\\s+job\\s+${id}\\s+-\\s+completed\\s+admin\\s.*requirements changed$`, "m"));
    expect(human.stdout).toMatch(/^1-1 of 2$/m);
  }, 30_000);

  it("a cancelled job stays cancelled: a repeat says so (exit 0), a task cancel is a conflict (exit 4)", async () => {
    const again = await s.run(["job", "cancel", id, "--reason", "again", "--json"]);
    expect(again.code).toBe(0);
    expect(parseJson<{ alreadyCancelled?: boolean; cancellation: CancellationRecord }>(again)).toMatchObject({ alreadyCancelled: true, cancellation: { id: record.id } });
    const late = await s.run(["job", "cancel", id, "--task", "merge", "--no-cascade"]);
    expect(late.code).toBe(4);
    expect(late.stderr).toContain("(JOB_ALREADY_FINISHED)");
  }, 30_000);

  it("without --no-cascade the edge's own policy decides: stopping only the docs agent, review (onCancel: skip) and merge still run, the job ends partial", async () => {
    // The example's spec with only its knobs turned down, so that the run ends in seconds.
    const spec = parse(readFileSync(specFile, "utf8")) as { tasks: { key: string; env?: Record<string, string> }[] };
    for (const t of spec.tasks) if (t.env !== undefined) Object.assign(t.env, { STEPS: t.key === "agent-docs" ? "60" : "6", STEP_SECONDS: "0.2" });
    const submitted = await s.run(["job", "submit", "-", "--json"], { input: JSON.stringify(spec) });
    expect(submitted.code).toBe(0);
    const other = parseJson<{ job: Job }>(submitted).job.id;
    await until(() => readJob(other), (j) => task(j, "agent-docs").status === "running");

    const stop = await s.run(["job", "cancel", other, "--task", "agent-docs", "--reason", "docs later", "--json"]);
    expect(stop.code).toBe(0);
    const cancellation = parseJson<{ cancellation: CancellationRecord }>(stop).cancellation;
    expect(cancellation.affectedTasks).toEqual([{ key: "agent-docs", from: "running", to: "cancelled" }]);

    const done = await s.client.waitForJob(other, { timeoutMs: 25_000 });
    expect(done.status).toBe("partial");
    expect(Object.fromEntries(done.tasks.map((t) => [t.key, t.status]))).toEqual({
      plan: "succeeded",
      "agent-api": "succeeded",
      "agent-web": "succeeded",
      "agent-docs": "cancelled",
      review: "succeeded",
      "integration-tests": "succeeded",
      merge: "succeeded",
      // A compensation task runs only after a cancellation of the whole job.
      "discard-branches": "skipped",
    });
    const artifacts = join(s.home, "artifacts", other);
    const review = readFileSync(join(artifacts, "review", "review.md"), "utf8");
    expect(review).toContain("agent-api: 3 hunks reviewed, approved");
    expect(review).toContain("agent-docs: no finished change (the agent was stopped); reviewed without it");
    expect(readFileSync(join(artifacts, "integration-tests", "results.txt"), "utf8")).toBe("suite orders: passed\nsuite checkout: passed\nsuite rate-limits: passed\n");
    const merged = readFileSync(join(artifacts, "merge", "merged.patch"), "utf8");
    expect(merged.match(/^@@ step \d+ @@$/gm)).toHaveLength(6);
    expect(merged).toContain("+++ b/src/api/rate-limit.ts");
    expect(merged).toContain("+++ b/src/web/rate-limit.ts");
    expect(merged).not.toContain("src/docs/");
    expect((await s.server.engine.pools())["repo"]?.holders).toEqual([]);
  }, 30_000);
});
