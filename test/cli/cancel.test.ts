/** `belay job cancel` (live, --no-wait, --task, --all), `cancel-status` and `cancellations` as subprocesses against one real server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CancellationRecord, Job } from "../../src/core/model.ts";
import { until } from "../helpers.ts";
import { parseJson, startCliServer } from "./helpers.ts";
import type { CliServer } from "./helpers.ts";

let s: CliServer;
beforeAll(async () => {
  // Jobs in queue "parked" are never claimed: they stay queued for the bulk cancel.
  s = await startCliServer({ queues: ["default"] });
});
afterAll(async () => {
  await s.close();
});

const jobSteps = ["block_dispatch", "cancel_pending_tasks", "signal_runners", "await_runners", "force_kill", "cleanup", "finalize"];

async function submitRunning(spec: Record<string, unknown>): Promise<Job> {
  const { job } = await s.client.submitJob(spec);
  return until(async () => (await s.client.getJob(job.id)).job, (j) => j.tasks.some((t) => t.status === "running"));
}

describe("belay job cancel", () => {
  it("follows a running job's cancellation step by step until the job is cancelled", async () => {
    const submitted = await s.run(["job", "submit", "--json", "--", "sleep", "30"]);
    const { job } = parseJson<{ job: Job }>(submitted);
    await until(async () => (await s.client.getJob(job.id)).job, (j) => j.status === "running");

    const started = Date.now();
    const result = await s.run(["job", "cancel", job.id, "--reason", "r"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(`cancelling job ${job.id} (sleep): "r"`);
    // Each step ends on its own line, in order, with its status and duration.
    const ends = lines.map((l) => /^\s+\+\S+ \S+\s+(\w+)\s+(completed|skipped|failed)\s+\d/.exec(l)).filter((m) => m !== null);
    expect(ends.map((m) => m[1])).toEqual(jobSteps);
    expect(ends.find((m) => m[1] === "force_kill")?.[2]).toBe("skipped");
    // A step that takes time is shown as it starts, before it ends.
    const awaitStart = lines.findIndex((l) => /await_runners\s+started/.test(l));
    const awaitEnd = lines.findIndex((l) => /await_runners\s+completed/.test(l));
    expect(awaitStart).toBeGreaterThan(0);
    expect(awaitStart).toBeLessThan(awaitEnd);
    expect(result.stdout).toContain("runner of task main stopped: graceful");
    expect(result.stdout).toContain("runners stopped: 1 graceful, 0 forced");
    expect(lines.at(-2)).toMatch(new RegExp(`^job ${job.id} cancelled; cancellation completed in \\d`));

    const status = await s.run(["job", "cancel-status", job.id, "--json"]);
    const record = parseJson<{ cancellation: CancellationRecord }>(status).cancellation;
    expect(record.reason).toBe("r");
    expect(record.status).toBe("completed");
    expect(record.steps.map((st) => st.name)).toEqual(jobSteps);
    const human = await s.run(["job", "cancel-status", job.id]);
    expect(human.stdout).toMatch(/^STEP\s+STATUS\s+STARTED\s+DURATION\s+DETAIL$/m);
    expect(human.stdout).toMatch(/^reason\s+r$/m);
    expect(human.stdout).toMatch(/^main\s+1\s+mid_run\s+graceful/m);
  });

  it("--no-wait returns at once with the job cancelling; --json gives the API's answer", async () => {
    const job = await submitRunning({ command: ["sleep", "30"] });
    const result = await s.run(["job", "cancel", job.id, "--no-wait"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/cancellation \S+ in_progress; job cancelling/);
    expect(result.stdout).not.toContain("finalize");

    const other = await submitRunning({ command: ["sleep", "30"] });
    const json = parseJson<{ job: Job; cancellation: CancellationRecord }>(await s.run(["job", "cancel", other.id, "--no-wait", "--json", "--force"]));
    expect(json.job.status).toBe("cancelling");
    expect(json.cancellation).toMatchObject({ status: "in_progress", force: true });
    await s.client.waitForJob(other.id, { timeoutMs: 10_000 });
    await s.client.waitForJob(job.id, { timeoutMs: 10_000 });
  });

  it("--json waits and prints the final job and record; a repeat says it was already cancelled; --only-if-pending refuses a started job", async () => {
    const job = await submitRunning({ command: ["sleep", "30"] });
    const refused = await s.run(["job", "cancel", job.id, "--only-if-pending"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("(JOB_NOT_PENDING)");

    const final = parseJson<{ job: Job; cancellation: CancellationRecord }>(await s.run(["job", "cancel", job.id, "--json", "--grace", "2000"]));
    expect(final.job.status).toBe("cancelled");
    expect(final.cancellation).toMatchObject({ status: "completed", graceMs: 2000 });
    const again = await s.run(["job", "cancel", job.id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("was already cancelled");
  });

  it("--only-if-pending on a finished job: exit 4, JOB_NOT_PENDING; a reason over the limit in characters is a usage error", async () => {
    const { job } = await s.client.submitJob({ command: ["true"] });
    await until(async () => (await s.client.getJob(job.id)).job, (j) => j.status === "succeeded");
    const refused = await s.run(["job", "cancel", job.id, "--only-if-pending"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("(JOB_NOT_PENDING)");
    expect(refused.stderr).toContain("succeeded");
    // Characters are code points: 1001 emoji are 1001 characters, over the limit, and the CLI says so before sending.
    const tooLong = await s.run(["job", "cancel", job.id, "--reason", "🛑".repeat(1001)]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("at most 1000 characters, not 1001");
  });

  it("--task KEY --no-cascade cancels one task and lets its dependent run", async () => {
    const job = await submitRunning({
      name: "graph",
      tasks: [
        { key: "slow", command: ["sleep", "30"] },
        { key: "after", command: ["true"], dependsOn: ["slow"] },
      ],
    });
    const result = await s.run(["job", "cancel", job.id, "--task", "slow", "--no-cascade", "--reason", "not needed"]);
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe(`cancelling task slow of job ${job.id} (graph): "not needed"`);
    expect(result.stdout).toContain("tasks: slow running→cancelled");
    expect(result.stdout).toMatch(/task slow cancelled; job \S+ \w+; cancellation completed/);
    const done = await s.client.waitForJob(job.id, { timeoutMs: 10_000 });
    expect(done.status).toBe("partial");
    expect(done.tasks.find((t) => t.key === "after")?.status).toBe("succeeded");
    const record = (await s.client.getJobCancellation(job.id)).cancellation;
    expect(record).toMatchObject({ scope: "task", taskKey: "slow", cascade: false });

    expect((await s.run(["job", "cancel", job.id, "--no-cascade"])).code).toBe(2);
    expect((await s.run(["job", "cancel", job.id, "--task", "nope"])).code).toBe(3);
  });

  it("--dry-run previews one job's (or task's) cancel and cancels nothing", async () => {
    const job = await submitRunning({ name: "preview", graceMs: 4000, tasks: [{ key: "main", kind: "process", command: ["sleep", "30"] }] });
    const text = await s.run(["job", "cancel", job.id, "--dry-run"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`dry run: nothing was cancelled. Cancelling job ${job.id} (preview) would:`);
    expect(text.stdout).toMatch(/stop runner of main \(process, attempt 1 on .+\): signal, then kill after 4\.00 s/);
    const json = parseJson<{ dryRun: boolean; cancellation: null; preview: { runners: Array<{ stop: string }>; scope: string } }>(await s.run(["job", "cancel", job.id, "--task", "main", "--force", "--dry-run", "--json"]));
    expect(json).toMatchObject({ dryRun: true, cancellation: null, preview: { scope: "task", runners: [{ stop: "kill" }] } });
    const after = (await s.client.getJob(job.id)).job;
    expect([after.status, after.tasks[0]?.status, after.cancellation]).toEqual(["running", "running", null]);
    await s.client.cancelJob(job.id, { force: true });
  });

  it("--all --status queued --dry-run counts; --all cancels them; job cancellations lists the records", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await s.client.submitJob({ queue: "parked", labels: { batch: "b1" }, command: ["true"] })).job.id);

    const dry = await s.run(["job", "cancel", "--all", "--status", "queued", "--queue", "parked", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout.split("\n")[0]).toBe("3 jobs match (status queued, queue parked); dry run: nothing cancelled");
    for (const id of ids) expect(dry.stdout).toContain(id);
    const dryJson = parseJson<{ matched: number; cancelled: number; sample: string[] }>(
      await s.run(["job", "cancel", "--all", "--status", "queued", "--label", "batch=b1", "--dry-run", "--json"]),
    );
    expect(dryJson).toMatchObject({ matched: 3, cancelled: 0 });
    expect((await s.client.listJobs({ queue: "parked", status: "queued" })).items).toHaveLength(3);

    const bulk = await s.run(["job", "cancel", "--all", "--status", "queued", "--queue", "parked", "--reason", "cleanup"]);
    expect(bulk.code).toBe(0);
    expect(bulk.stdout).toMatch(/^3 jobs matched \(status queued, queue parked\); 3 cancels accepted$/m);
    expect(bulk.stdout).toMatch(/^bulk cancellation \S+ (completed|in_progress)/m);
    for (const id of ids) expect((await s.client.getJob(id)).job.status).toBe("cancelled");

    const one = await s.run(["job", "cancellations", "--limit", "1"]);
    expect(one.code).toBe(0);
    const rows = one.stdout.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^ID\s+SCOPE\s+JOB\s+TASK\s+STATUS\s+BY\s+REQUESTED\s+DURATION\s+REASON$/);
    expect(rows).toHaveLength(3);
    expect(rows[2]).toMatch(/^1-1 of \d+$/);
    const page = parseJson<{ items: CancellationRecord[]; total: number }>(await s.run(["job", "cancellations", "--limit", "1", "--offset", "1", "--json"]));
    expect(page.items).toHaveLength(1);
    expect(page.total).toBeGreaterThanOrEqual(4);
    const forJob = parseJson<{ items: CancellationRecord[] }>(await s.run(["job", "cancellations", "--job", ids[0] ?? "", "--json"]));
    expect(forJob.items.map((c) => c.reason)).toEqual(["cleanup"]);
    expect((await s.run(["job", "cancellations", "--status", "nope"])).code).toBe(2);
  });
});
