/**
 * `dryRun: true` over HTTP (DESIGN §7 "Preview"): the answer carries the preview whole, needs
 * the same role and ownership as the cancel itself, and leaves no record.
 */
import { describe, expect, it } from "vitest";
import { until } from "../helpers.ts";
import { templateJob, testServer } from "./helpers.ts";

describe("POST /jobs/{id}/cancel with dryRun", () => {
  it("answers the preview (200) to the job's owner and to an operator, refuses whoever may not cancel, and records nothing", async () => {
    const server = await testServer();
    const submitted = await server.call("user", "POST", "/api/v1/jobs", templateJob("sleep", { seconds: 30 }));
    expect(submitted.statusCode).toBe(201);
    const jobId = submitted.json.job.id as string;
    await until(() => server.engine.getJob(jobId), (job) => job.tasks[0]?.status === "running");

    for (const role of ["user", "operator"] as const) {
      const res = await server.call(role, "POST", `/api/v1/jobs/${jobId}/cancel`, { dryRun: true, force: true });
      expect(res.statusCode).toBe(200);
      expect(res.json.cancellation).toBeNull();
      expect(res.json.dryRun).toBe(true);
      expect(res.json.preview).toMatchObject({ jobId, scope: "job", outcome: "cancel", jobStatus: { from: "running", to: "cancelling" }, compensations: [], descendants: [] });
      expect(res.json.preview.runners).toEqual([expect.objectContaining({ key: "main", kind: "process", stop: "kill", graceMs: 0 })]);
    }
    const task = await server.call("user", "POST", `/api/v1/jobs/${jobId}/tasks/main/cancel`, { dryRun: true });
    expect(task.statusCode).toBe(200);
    expect(task.json.preview).toMatchObject({ scope: "task", taskKey: "main", runners: [expect.objectContaining({ key: "main", stop: "signal" })] });

    // A dry run needs the cancel's own rights: a viewer, and a user on someone else's job, are refused.
    expect((await server.call("viewer", "POST", `/api/v1/jobs/${jobId}/cancel`, { dryRun: true })).statusCode).toBe(403);
    expect((await server.call("otherUser", "POST", `/api/v1/jobs/${jobId}/cancel`, { dryRun: true })).statusCode).toBe(403);
    expect((await server.call("otherUser", "POST", `/api/v1/jobs/${jobId}/tasks/main/cancel`, { dryRun: true })).statusCode).toBe(403);
    expect((await server.call("user", "POST", `/api/v1/jobs/${jobId}/cancel`, { dryRun: "yes" })).json.error.code).toBe("INVALID_REQUEST");

    expect((await server.engine.listCancellations({ jobId })).total).toBe(0);
    const job = await server.engine.getJob(jobId);
    expect([job.status, job.tasks[0]?.status, job.cancellation]).toEqual(["running", "running", null]);
  });

  it("is in the OpenAPI document of both cancel routes", async () => {
    const server = await testServer();
    const doc = (await server.call(null, "GET", "/api/v1/openapi.json")).json;
    for (const path of ["/api/v1/jobs/{id}/cancel", "/api/v1/jobs/{id}/tasks/{key}/cancel"]) {
      const op = doc.paths[path].post;
      expect(op.requestBody.content["application/json"].schema.properties.dryRun.type).toBe("boolean");
      expect(JSON.stringify(op.responses["200"])).toContain("descendants");
    }
  });
});
