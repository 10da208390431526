/**
 * Child jobs over HTTP (DESIGN §7) and the policy on them (DESIGN §6): a `user` cannot get a
 * free-command process task run by wrapping it in a `job` task, nor by a handler's
 * `ctx.submitChild`; a child is owned by its parent's owner; `GET /jobs/{id}/tree` and
 * `GET /jobs?parent=` show the tree.
 */
import { describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { testServer } from "./helpers.ts";

const treeHandlers = new URL("../fixtures/tree-handlers.ts", import.meta.url).pathname;

describe("child jobs over HTTP", () => {
  it("refuses a user's job task whose child holds a process task (FORBIDDEN), at any depth, and stores nothing", async () => {
    const server = await testServer({ handlers: treeHandlers });
    const direct = await server.call("user", "POST", "/api/v1/jobs", { tasks: [{ key: "sub", kind: "job", job: { command: ["sh", "-c", "id > /tmp/pwned"] } }] });
    expect(direct.statusCode).toBe(403);
    expect(direct.json.error.code).toBe("FORBIDDEN");
    expect(direct.json.error.message).toContain("job.submit.process");
    const nested = await server.call("user", "POST", "/api/v1/jobs", {
      tasks: [{ key: "a", job: { tasks: [{ key: "b", kind: "job", job: { tasks: [{ key: "c", handler: "echo" }, { key: "d", command: "id" }] } }] } }],
    });
    expect(nested.statusCode).toBe(403);
    expect(nested.json.error.code).toBe("FORBIDDEN");
    expect((await server.engine.listJobs()).items).toEqual([]);
    // The same nesting with what a user may run is accepted.
    const allowed = await server.call("user", "POST", "/api/v1/jobs", { tasks: [{ key: "a", job: { tasks: [{ key: "t", template: "true" }] } }] });
    expect(allowed.statusCode).toBe(201);
    await until(() => server.engine.getJob(allowed.json.job.id), (j) => j.status === "succeeded", 30_000);
  }, 60_000);

  it("refuses a process child that a user's handler submits (ctx.submitChild goes through the same policy)", async () => {
    const server = await testServer({ handlers: treeHandlers });
    const submitted = await server.call("user", "POST", "/api/v1/jobs", {
      tasks: [{ key: "h", handler: "submitOne", input: { spec: { command: ["sh", "-c", "id"] } } }],
    });
    expect(submitted.statusCode).toBe(201);
    const job = await until(() => server.engine.getJob(submitted.json.job.id), (j) => j.status === "succeeded", 30_000);
    expect(job.tasks[0]!.output).toMatchObject({ refused: "FORBIDDEN" });
    expect((await server.engine.listJobs({ parentJobId: job.id })).items).toEqual([]);
  }, 60_000);

  it("shows the tree, lists children by parent, and cancels the tree", async () => {
    const server = await testServer({ handlers: treeHandlers });
    const submitted = await server.call("user", "POST", "/api/v1/jobs", {
      name: "parent",
      tasks: [{ key: "sub", job: { name: "child", tasks: [{ key: "t", template: "sleep", params: { seconds: 300 } }] } }],
    });
    expect(submitted.statusCode).toBe(201);
    const parentId = submitted.json.job.id as string;
    const children = await until(
      () => server.call("viewer", "GET", `/api/v1/jobs?parent=${parentId}`),
      (r) => r.json.items?.[0]?.status === "running",
      30_000,
    );
    const child = children.json.items[0];
    expect(child).toMatchObject({ name: "child", owner: "uma", parentJobId: parentId, parentTaskKey: "sub", onParentCancel: "cancel", depth: 1 });

    const tree = await server.call("viewer", "GET", `/api/v1/jobs/${parentId}/tree`);
    expect(tree.statusCode).toBe(200);
    expect(tree.json).toMatchObject({ count: 2, truncated: false, tree: { job: { id: parentId }, children: [{ job: { id: child.id }, children: [] }] } });
    expect((await server.call("viewer", "GET", "/api/v1/jobs/01a24e06-f82c-7190-a667-579c5b171e99/tree")).json.error.code).toBe("JOB_NOT_FOUND");

    const cancel = await server.call("user", "POST", `/api/v1/jobs/${parentId}/cancel`, { reason: "tree over http", wait: true, waitMs: 30_000 });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json.cancellation.descendants).toEqual([expect.objectContaining({ jobId: child.id, outcome: "cancelled", status: "cancelled" })]);
    expect(cancel.json.cancellation.steps.map((s: { name: string }) => s.name)).toContain("cancel_children");
  }, 60_000);
});
