/** The HTTP API's job and cancel routes: statuses and bodies of DESIGN §3 and §5. */
import { describe, expect, it } from "vitest";
import { templateJob, testServer } from "./helpers.ts";
import { until } from "../helpers.ts";

describe("HTTP jobs API", () => {
  it("submits, reads and cancels a queued job: 201, 200 with the record completed", async () => {
    const s = await testServer({ concurrency: 0 });
    const submit = await s.call("user", "POST", "/api/v1/jobs", templateJob("sleep", { seconds: 10 }, { name: "sim" }));
    expect(submit.statusCode).toBe(201);
    const id = submit.json.job.id as string;
    expect(submit.json.job.owner).toBe("uma");
    const read = await s.call("viewer", "GET", `/api/v1/jobs/${id}`);
    expect(read.statusCode).toBe(200);
    expect(read.json.job.tasks[0].key).toBe("main");
    const cancel = await s.call("user", "POST", `/api/v1/jobs/${id}/cancel`, { reason: "not needed" });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json.job.status).toBe("cancelled");
    expect(cancel.json.cancellation.status).toBe("completed");
    const again = await s.call("user", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(again.statusCode).toBe(200);
    expect(again.json.alreadyCancelled).toBe(true);
    expect(again.json.cancellation.id).toBe(cancel.json.cancellation.id);
    const record = await s.call("viewer", "GET", `/api/v1/jobs/${id}/cancellation`);
    expect(record.json.cancellation.steps.map((st: { name: string }) => st.name)).toContain("finalize");
  });

  it("a running job: 202 cancelling, then cancelled; wait holds the response", async () => {
    const s = await testServer();
    const { json } = await s.call("user", "POST", "/api/v1/jobs", templateJob("sleep", { seconds: 30 }));
    const id = json.job.id as string;
    await until(() => s.engine.getJob(id), (j) => j.status === "running");
    const cancel = await s.call("operator", "POST", `/api/v1/jobs/${id}/cancel`, { reason: "stop" });
    expect(cancel.statusCode).toBe(202);
    expect(cancel.json.job.status).toBe("cancelling");
    const waited = await s.call("operator", "POST", `/api/v1/jobs/${id}/cancel`, { wait: true });
    expect(waited.statusCode).toBe(200);
    expect(waited.json.job.status).toBe("cancelled");
  });

  it("409s and 404s carry their codes", async () => {
    const s = await testServer();
    const { json } = await s.call("user", "POST", "/api/v1/jobs", templateJob("true"));
    const id = json.job.id as string;
    await until(() => s.engine.getJob(id), (j) => j.status === "succeeded");
    const finished = await s.call("user", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(finished.statusCode).toBe(409);
    expect(finished.json.error.code).toBe("JOB_ALREADY_FINISHED");
    const missing = await s.call("user", "POST", `/api/v1/jobs/0190a7a4-0000-7000-8000-000000000000/cancel`, {});
    expect(missing.statusCode).toBe(404);
    expect(missing.json.error.code).toBe("JOB_NOT_FOUND");
  });

  it("stallTimeoutMs: a clear 400 naming the field and its bounds; a valid one is kept on the tasks", async () => {
    const s = await testServer({ concurrency: 0 });
    const bad = await s.call("operator", "POST", "/api/v1/jobs", { tasks: [{ key: "a", command: ["true"], stallTimeoutMs: 500 }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json.error.code).toBe("INVALID_REQUEST");
    expect(bad.json.error.details).toMatchObject({ field: "tasks[0].stallTimeoutMs", min: 1000 });
    expect(bad.json.error.message).toMatch(/stallTimeoutMs.*1000/);
    const ok = await s.call("operator", "POST", "/api/v1/jobs", { command: ["true"], stallTimeoutMs: 30_000 });
    expect(ok.statusCode).toBe(201);
    expect(ok.json.job.tasks[0].spec.stallTimeoutMs).toBe(30_000);
  });

  it("client mistakes are 4xx with a code, never a 500 or a stack trace", async () => {
    const s = await testServer({ concurrency: 0 });
    const { json } = await s.call("user", "POST", "/api/v1/jobs", templateJob("true"));
    const id = json.job.id as string;
    const cases: Array<[string, string, unknown, number, string]> = [
      ["POST", `/api/v1/jobs/${id}/cancel`, { reason: "x".repeat(1001) }, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs/${id}/cancel`, { force: "yes" }, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs/${id}/cancel`, { surprise: 1 }, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs/not-a-uuid/cancel`, {}, 400, "INVALID_REQUEST"],
      ["GET", `/api/v1/jobs/not-a-uuid`, undefined, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs`, { tasks: [{ key: "a", command: ["true"], dependsOn: ["b"] }] }, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs`, [1, 2], 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs`, { command: ["true"], stallTimeoutMs: 10 }, 400, "INVALID_REQUEST"],
      ["POST", `/api/v1/jobs`, { tasks: [{ key: "a", command: ["true"], stallTimeoutMs: "1m" }] }, 400, "INVALID_REQUEST"],
      ["GET", `/api/v1/jobs?limit=0`, undefined, 400, "INVALID_REQUEST"],
      ["GET", `/api/v1/jobs?status=bogus`, undefined, 400, "INVALID_REQUEST"],
      ["GET", `/api/v1/nowhere`, undefined, 404, "NOT_FOUND"],
    ];
    for (const [method, url, body, status, code] of cases) {
      const res = await s.call("user", method, url, body);
      expect({ url, body, status: res.statusCode, code: res.json?.error?.code }).toEqual({ url, body, status, code });
      expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    }
    const malformed = await s.app.inject({ method: "POST", url: "/api/v1/jobs", headers: { authorization: `Bearer ${s.tokens.user}`, "content-type": "application/json" }, payload: "{nope" });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe("INVALID_REQUEST");
    const huge = await s.app.inject({ method: "POST", url: "/api/v1/jobs", headers: { authorization: `Bearer ${s.tokens.user}`, "content-type": "application/json" }, payload: JSON.stringify({ command: ["echo", "x".repeat(2 * 1024 * 1024)] }) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe("PAYLOAD_TOO_LARGE");
    const noToken = await s.call(null, "GET", "/api/v1/jobs");
    expect(noToken.statusCode).toBe(401);
    expect(noToken.json.error.code).toBe("UNAUTHENTICATED");
  });

  it("a user may cancel only its own jobs; an operator any", async () => {
    const s = await testServer({ concurrency: 0 });
    const { json } = await s.call("user", "POST", "/api/v1/jobs", templateJob("true"));
    const id = json.job.id as string;
    const other = await s.call("otherUser", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(other.statusCode).toBe(403);
    expect(other.json.error.code).toBe("FORBIDDEN");
    const viewer = await s.call("viewer", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(viewer.statusCode).toBe(403);
    const operator = await s.call("operator", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(operator.statusCode).toBe(200);
  });
});
