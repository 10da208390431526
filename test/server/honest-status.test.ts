/** Issue 15, "status that tells the truth": what the HTTP API reports is what happened. */
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/server/metrics.ts";
import { testServer } from "./helpers.ts";
import { until } from "../helpers.ts";

describe("progress is the work done, not the tasks ended", () => {
  it("a failed one-task job that reported nothing is at 0%, not 100%", async () => {
    const s = await testServer();
    const { json } = await s.call("admin", "POST", "/api/v1/jobs", { command: ["sh", "-c", "exit 3"] });
    const id = json.job.id as string;
    const job = await until(async () => (await s.call("viewer", "GET", `/api/v1/jobs/${id}`)).json.job, (j) => j.status === "failed");
    expect(job.progress.ratio).toBe(0);
    const list = await s.call("viewer", "GET", "/api/v1/jobs");
    expect(list.json.items.find((j: { id: string }) => j.id === id).progress.ratio).toBe(0);
  });

  it("a cancelled job counts its succeeded task whole and its cancelled task at the progress it reached", async () => {
    const s = await testServer();
    const { json } = await s.call("admin", "POST", "/api/v1/jobs", {
      name: "two",
      tasks: [
        { key: "quick", command: ["true"] },
        { key: "slow", command: ["sh", "-c", 'echo \'BELAY_PROGRESS {"ratio": 0.2}\'; exec sleep 30'] },
        { key: "after", command: ["true"], dependsOn: ["slow"] },
      ],
    });
    const id = json.job.id as string;
    await until(() => s.engine.getJob(id), (j) => j.tasks[0]?.status === "succeeded" && j.tasks[1]?.progress?.ratio === 0.2);
    await s.call("admin", "POST", `/api/v1/jobs/${id}/cancel`, { wait: true });
    const job = (await s.call("viewer", "GET", `/api/v1/jobs/${id}`)).json.job;
    expect(job.status).toBe("cancelled");
    // (1 + 0.2 + 0) / 3, where counting ended tasks as done would say 100%.
    expect(job.progress.ratio).toBeCloseTo(0.4, 5);
  });
});

describe("a malformed BELAY_PROGRESS line", () => {
  it("is kept as a log line and reported once per task as a warning event", async () => {
    const s = await testServer();
    const script = [
      'echo \'BELAY_PROGRESS {"ratio": .20}\'',
      "echo 'BELAY_PROGRESS [1]'",
      'echo \'BELAY_PROGRESS {"ratio": 0.5}\'',
    ].join("; ");
    const { json } = await s.call("admin", "POST", "/api/v1/jobs", { command: ["sh", "-c", script] });
    const id = json.job.id as string;
    await until(() => s.engine.getJob(id), (j) => j.status === "succeeded");
    const logs = await s.call("viewer", "GET", `/api/v1/jobs/${id}/logs`);
    expect(logs.body).toContain('BELAY_PROGRESS {\\"ratio\\": .20}');
    const events = (await s.call("viewer", "GET", `/api/v1/jobs/${id}/events`)).json.items as Array<{ type: string; data: Record<string, unknown> }>;
    const warnings = events.filter((e) => e.type === "belay.task.warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.data["taskKey"]).toBe("main");
    expect(warnings[0]?.data["message"]).toMatch(/BELAY_PROGRESS line was not read as progress: not JSON/);
    // The good line after it is still read.
    expect(events.filter((e) => e.type === "belay.task.progress").map((e) => e.data["ratio"])).toEqual([0.5]);
  });
});

describe("pools are visible", () => {
  it("GET /pools shows capacity, slots in use and holders; /metrics has belay_pool_slots; the cleanup step lists the slots released", async () => {
    const s = await testServer({ pools: { gpu: 1, repo: 2 } }, {}, (engine) => {
      const metrics = createMetrics(engine, { defaultMetrics: false });
      return { extensions: [metrics.extension], stop: metrics.stop };
    });
    expect((await s.call(null, "GET", "/api/v1/pools")).statusCode).toBe(401);
    const idle = await s.call("viewer", "GET", "/api/v1/pools");
    expect(idle.statusCode).toBe(200);
    expect(idle.json).toEqual({
      items: [
        { name: "gpu", capacity: 1, inUse: 0, holders: [] },
        { name: "repo", capacity: 2, inUse: 0, holders: [] },
      ],
    });
    const { json } = await s.call("admin", "POST", "/api/v1/jobs", { name: "train", tasks: [{ key: "fit", command: ["sleep", "30"], uses: ["gpu", "repo"] }] });
    const id = json.job.id as string;
    const running = await until(() => s.engine.getJob(id), (j) => j.tasks[0]?.status === "running");
    const busy = await s.call("viewer", "GET", "/api/v1/pools");
    const holder = { jobId: id, taskKey: "fit", nodeId: s.engine.nodeId, since: running.tasks[0]?.startedAt };
    expect(busy.json.items).toEqual([
      { name: "gpu", capacity: 1, inUse: 1, holders: [holder] },
      { name: "repo", capacity: 2, inUse: 1, holders: [holder] },
    ]);
    const metrics = (await s.call(null, "GET", "/metrics")).body;
    expect(metrics).toContain('belay_pool_slots{pool="gpu",state="used"} 1');
    expect(metrics).toContain('belay_pool_slots{pool="gpu",state="free"} 0');
    expect(metrics).toContain('belay_pool_slots{pool="repo",state="free"} 1');

    await s.call("admin", "POST", `/api/v1/jobs/${id}/cancel`, { wait: true });
    const record = (await s.call("viewer", "GET", `/api/v1/jobs/${id}/cancellation`)).json.cancellation;
    const cleanup = record.steps.find((st: { name: string }) => st.name === "cleanup");
    expect(cleanup.detail.slotsReleased).toEqual([
      { pool: "gpu", taskKey: "fit" },
      { pool: "repo", taskKey: "fit" },
    ]);
    expect((await s.call("viewer", "GET", "/api/v1/pools")).json.items.map((p: { inUse: number }) => p.inUse)).toEqual([0, 0]);
    const openapi = (await s.call(null, "GET", "/api/v1/openapi.json")).json;
    expect(openapi.paths["/api/v1/pools"]?.get).toBeDefined();
  });
});
