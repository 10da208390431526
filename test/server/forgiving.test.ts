/**
 * "An API that forgives" (issue 15), over real HTTP on a listening server: what a careless
 * caller sends (curl without a body, a wrong method, a typo in an id, text/plain, emoji)
 * gets a default or a sentence that says what to send, never a schema's raw words.
 */
import { describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { requestLimits } from "../../src/core/requests.ts";
import { templateJob, testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";
import { untilJobStatus } from "../helpers.ts";

interface Answer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are asserted field by field
  json: any;
}

async function listening(s: TestServer): Promise<(method: string, path: string, init?: { token?: string | null; body?: string; contentType?: string }) => Promise<Answer>> {
  await s.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = s.app.server.address() as AddressInfo;
  return async (method, path, init = {}) => {
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? s.tokens.operator : init.token;
    if (token !== null) headers["authorization"] = `Bearer ${token}`;
    if (init.contentType !== undefined) headers["content-type"] = init.contentType;
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: init.body }) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text === "" ? null : JSON.parse(text) };
  };
}

async function submit(s: TestServer, spec: Record<string, unknown>): Promise<string> {
  const { json } = await s.call("user", "POST", "/api/v1/jobs", spec);
  return json.job.id as string;
}

describe("an API that forgives (real HTTP)", () => {
  it("cancel, task cancel and resume with no body and no Content-Type take every default", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const job = await submit(s, templateJob("sleep", { seconds: 30 }));
    const cancel = await http("POST", `/api/v1/jobs/${job}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.json.job.status).toBe("cancelled");
    expect(cancel.json.cancellation).toMatchObject({ reason: null, force: false, requestedBy: "oscar" });

    const resume = await http("POST", `/api/v1/jobs/${job}/resume`);
    expect(resume.status).toBe(200);
    expect(resume.json.job.status).toBe("queued");

    const graph = await submit(s, { tasks: [{ key: "a", template: "sleep", params: { seconds: 30 } }, { key: "b", template: "true", params: {}, dependsOn: ["a"] }] });
    const task = await http("POST", `/api/v1/jobs/${graph}/tasks/a/cancel`);
    expect(task.status).toBe(200);
    expect(task.json.job.tasks.map((t: { status: string }) => t.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("an empty body with Content-Type: application/json is no body: cancel, task cancel and resume take every default", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const empty = { contentType: "application/json", body: "" };
    const job = await submit(s, templateJob("sleep", { seconds: 30 }));
    const cancel = await http("POST", `/api/v1/jobs/${job}/cancel`, empty);
    expect(cancel.status, JSON.stringify(cancel.json)).toBe(200);
    expect(cancel.json.job.status).toBe("cancelled");
    expect(cancel.json.cancellation).toMatchObject({ reason: null, force: false });

    const resume = await http("POST", `/api/v1/jobs/${job}/resume`, { contentType: "application/json; charset=utf-8", body: "" });
    expect(resume.status, JSON.stringify(resume.json)).toBe(200);
    expect(resume.json.job.status).toBe("queued");

    const graph = await submit(s, { tasks: [{ key: "a", template: "sleep", params: { seconds: 30 } }, { key: "b", template: "true", params: {}, dependsOn: ["a"] }] });
    const task = await http("POST", `/api/v1/jobs/${graph}/tasks/a/cancel`, empty);
    expect(task.status, JSON.stringify(task.json)).toBe(200);
    expect(task.json.job.tasks.map((t: { status: string }) => t.status)).toEqual(["cancelled", "cancelled"]);

    // A route that needs a body says what it needs, as with no body at all; bad JSON is still bad JSON.
    const bulk = await http("POST", "/api/v1/jobs/cancel", empty);
    expect(bulk.status).toBe(400);
    expect(bulk.json.error.message).toContain("needs a filter");
    const broken = await http("POST", `/api/v1/jobs/${graph}/cancel`, { contentType: "application/json", body: "{" });
    expect(broken.status).toBe(400);
    expect(broken.json.error.message).toContain("malformed JSON body");
  });

  it("a bulk cancel with no body says it needs a filter", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const answer = await http("POST", "/api/v1/jobs/cancel");
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe("INVALID_REQUEST");
    expect(answer.json.error.message).toContain("needs a filter");
    expect(answer.json.error.details.field).toBe("filter");
  });

  it("a wrong method on a real path is 405 with Allow, an unknown path still 404", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const job = await submit(s, templateJob("true"));
    const wrong = await http("GET", `/api/v1/jobs/${job}/cancel`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect(wrong.json.error.code).toBe("METHOD_NOT_ALLOWED");
    const del = await http("DELETE", `/api/v1/jobs/${job}`);
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")?.split(", ")).toEqual(expect.arrayContaining(["GET", "HEAD"]));
    const unknown = await http("GET", "/api/v1/nothing-here");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("NOT_FOUND");
  });

  it("a malformed id says it is not a job id, not a regular expression", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    for (const [method, path] of [
      ["GET", "/api/v1/jobs/not-a-uuid"],
      ["POST", "/api/v1/jobs/12345/cancel"],
      ["GET", "/api/v1/cancellations?jobId=oops"],
    ] as const) {
      const answer = await http(method, path);
      expect(answer.status, path).toBe(400);
      expect(answer.json.error.message, path).toContain("not a job id (a UUID)");
      expect(answer.json.error.message, path).not.toContain("^[0-9a-fA-F]");
    }
  });

  it("a text/plain body is refused with the content type it needs", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const job = await submit(s, templateJob("true"));
    const answer = await http("POST", `/api/v1/jobs/${job}/cancel`, { body: "please stop", contentType: "text/plain" });
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe("INVALID_REQUEST");
    expect(answer.json.error.message).toContain("application/json");
    expect((await s.engine.getJob(job)).status).toBe("queued");
  });

  it("a user cancelling another principal's job hears it in plain words", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const job = await submit(s, templateJob("true"));
    const answer = await http("POST", `/api/v1/jobs/${job}/cancel`, { token: s.tokens.otherUser });
    expect(answer.status).toBe(403);
    expect(answer.json.error.message).toBe("cancelling another principal's job needs the operator role (policy rule job.cancel.any); this caller has user");
  });

  it("a reason's length is counted in characters (code points), with one rule and one message", async () => {
    const s = await testServer({ concurrency: 0 });
    const http = await listening(s);
    const emoji = "🛑";
    const fits = await submit(s, templateJob("true"));
    const ok = await http("POST", `/api/v1/jobs/${fits}/cancel`, { body: JSON.stringify({ reason: emoji.repeat(requestLimits.reasonChars) }), contentType: "application/json" });
    expect(ok.status).toBe(200);
    expect([...ok.json.cancellation.reason]).toHaveLength(requestLimits.reasonChars);

    const tooLong = await submit(s, templateJob("true"));
    const over = await http("POST", `/api/v1/jobs/${tooLong}/cancel`, { body: JSON.stringify({ reason: emoji.repeat(requestLimits.reasonChars + 1) }), contentType: "application/json" });
    expect(over.status).toBe(400);
    expect(over.json.error.details.field).toBe("reason");
    // The library says the very same thing.
    const library = await s.engine.cancelJob(tooLong, { reason: emoji.repeat(requestLimits.reasonChars + 1) }).catch((e: Error) => e);
    expect((library as Error).message).toBe(over.json.error.message);
    expect(over.json.error.message).toContain(`at most ${requestLimits.reasonChars} characters`);
  });

  it("onlyIfPending on a finished job is 409 JOB_NOT_PENDING with the finished state", async () => {
    const s = await testServer();
    const http = await listening(s);
    const job = await submit(s, templateJob("true"));
    await untilJobStatus(s.engine, job, "succeeded");
    const answer = await http("POST", `/api/v1/jobs/${job}/cancel`, { body: JSON.stringify({ onlyIfPending: true }), contentType: "application/json" });
    expect(answer.status).toBe(409);
    expect(answer.json.error.code).toBe("JOB_NOT_PENDING");
    expect(answer.json.error.details).toMatchObject({ jobId: job, status: "succeeded", finished: true });
    // Without onlyIfPending, a finished job is still JOB_ALREADY_FINISHED.
    const plain = await http("POST", `/api/v1/jobs/${job}/cancel`);
    expect(plain.json.error.code).toBe("JOB_ALREADY_FINISHED");
  });
});
