/** The client SDK against a real server (startServer on a free port): bodies, typed errors, waitForJob, the event stream. */
import { readFileSync, rmSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BelayApiError, BelayClient, BelayNetworkError, isBelayApiError } from "../../src/client/index.ts";
import type { BelayEvent } from "../../src/client/index.ts";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer } from "../../src/server/serve.ts";

let server: RunningServer;
let home: string;
let client: BelayClient;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "belay-client-"));
  server = await startServer({ home, port: 0, concurrency: 2, pollIntervalMs: 20, logger: pino({ level: "silent" }) });
  client = new BelayClient({ url: `${server.url}/`, token: readFileSync(join(home, "admin.token"), "utf8").trim() });
});
afterAll(async () => {
  await server.close();
  rmSync(home, { recursive: true, force: true });
});

const unknownId = "0190a7a4-0000-7000-8000-000000000000";

async function apiError(promise: Promise<unknown>): Promise<BelayApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BelayApiError) return error;
    throw error;
  }
  throw new Error("expected a BelayApiError");
}

describe("BelayClient", () => {
  it("submits, reads, lists, waits for a job, and reads its events and logs", async () => {
    const { job } = await client.submitJob({ name: "hello", labels: { suite: "client" }, command: ["sh", "-c", "echo hi"] });
    expect(job).toMatchObject({ name: "hello", status: "queued", owner: "admin" });
    const done = await client.waitForJob(job.id, { timeoutMs: 10_000 });
    expect(done.status).toBe("succeeded");
    expect((await client.getJob(job.id)).job.tasks[0]?.exitCode).toBe(0);
    const page = await client.listJobs({ labels: { suite: "client" }, status: ["succeeded", "failed"], limit: 10 });
    expect(page.items.map((j) => j.id)).toEqual([job.id]);
    expect(page.nextCursor).toBeNull();
    const events = await client.getJobEvents(job.id);
    expect(events.items[0]?.type).toBe("belay.job.created");
    expect(events.items.at(-1)?.type).toBe("belay.job.succeeded");
    const after = await client.getJobEvents(job.id, { after: events.items[0]?.seq ?? 0 });
    expect(after.items).toHaveLength(events.items.length - 1);
    expect((await client.getLogs(job.id, { task: "main" })).items.map((l) => l.line)).toEqual(["hi"]);
  });

  it("waitForJob resolves with the job as it is when the timeout passes first", async () => {
    const { job } = await client.submitJob({ command: ["sleep", "30"] });
    const started = Date.now();
    const waited = await client.waitForJob(job.id, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(["queued", "running"]).toContain(waited.status);
    const cancelled = await client.cancelJob(job.id, { reason: "done waiting", wait: true });
    expect(cancelled.job.status).toBe("cancelled");
    expect(cancelled.cancellation.status).toBe("completed");
  });

  it("errors carry the server's code, status and details", async () => {
    const notFound = await apiError(client.getJob(unknownId));
    expect(notFound).toMatchObject({ code: "JOB_NOT_FOUND", status: 404, details: { jobId: unknownId } });
    expect(notFound.message).toContain(unknownId);
    expect(isBelayApiError(notFound, "JOB_NOT_FOUND")).toBe(true);

    const { job } = await client.submitJob({ command: ["true"] });
    await client.waitForJob(job.id, { timeoutMs: 10_000 });
    expect(await apiError(client.cancelJob(job.id))).toMatchObject({ code: "JOB_ALREADY_FINISHED", status: 409 });
    expect(await apiError(client.resumeJob(job.id))).toMatchObject({ code: "JOB_NOT_RESUMABLE", status: 409 });
    expect(await apiError(client.cancelTask(job.id, "nope"))).toMatchObject({ status: 404 });
    expect(await apiError(client.getJobCancellation(job.id))).toMatchObject({ code: "NOT_FOUND", status: 404 });
    expect(await apiError(client.submitJob({ tasks: [] }))).toMatchObject({ code: "INVALID_REQUEST", status: 400 });
    expect(await apiError(client.revokeToken(unknownId))).toMatchObject({ code: "NOT_FOUND", status: 404 });

    const anonymous = new BelayClient({ url: server.url });
    expect(await apiError(anonymous.listJobs())).toMatchObject({ code: "UNAUTHENTICATED", status: 401 });
    const created = await client.createToken({ name: "viewer-bot", role: "viewer" });
    const viewer = new BelayClient({ url: server.url, token: created.token });
    expect((await viewer.listJobs({ limit: 1 })).items).toHaveLength(1);
    expect(await apiError(viewer.createToken({ name: "x", role: "admin" }))).toMatchObject({ code: "FORBIDDEN", status: 403 });
    expect((await client.listTokens()).items.some((t) => t.id === created.id && t.role === "viewer")).toBe(true);
    await client.revokeToken(created.id);
    expect(await apiError(viewer.listJobs())).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("a server that cannot be reached is a BelayNetworkError naming the URL", async () => {
    const nowhere = new BelayClient({ url: "http://127.0.0.1:9", token: "x" });
    const error = await nowhere.listJobs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BelayNetworkError);
    expect((error as BelayNetworkError).code).toBe("UNREACHABLE");
    expect((error as Error).message).toMatch(/^cannot reach Belay at http:\/\/127\.0\.0\.1:9: /);
  });

  it("a non-JSON error answer is BAD_RESPONSE with its status", async () => {
    const proxy = new BelayClient({ url: "http://proxy.invalid", fetch: async () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }) });
    expect(await apiError(proxy.listJobs())).toMatchObject({ code: "BAD_RESPONSE", status: 502 });
  });

  it("cancels tasks and jobs in bulk, and reads the cancellation history", async () => {
    const { job } = await client.submitJob({ tasks: [{ key: "a", command: ["sleep", "30"] }, { key: "b", command: ["true"], dependsOn: ["a"] }] });
    const task = await client.cancelTask(job.id, "a", { cascade: true, reason: "task only" });
    expect(task.cancellation).toMatchObject({ scope: "task", taskKey: "a", reason: "task only" });
    expect((await client.waitForJob(job.id, { timeoutMs: 10_000 })).status).toBe("partial");
    const latest = await client.getJobCancellation(job.id);
    expect(latest.cancellation.id).toBe(task.cancellation.id);
    expect((await client.getCancellation(task.cancellation.id)).cancellation.status).toBe("completed");
    const history = await client.listCancellations({ jobId: job.id, limit: 5 });
    expect(history.total).toBe(1);

    const dry = await client.cancelJobs({ filter: { status: "queued", labels: { none: "such" } }, dryRun: true });
    expect(dry).toEqual({ matched: 0, cancelled: 0, sample: [], cancellation: null });
  });

  it("events() yields a job's events in order, replayed from lastEventId, and stops when the signal aborts", async () => {
    const { job } = await client.submitJob({ command: ["sh", "-c", 'echo "BELAY_PROGRESS {\\"ratio\\":0.5}"'] });
    await client.waitForJob(job.id, { timeoutMs: 10_000 });
    const controller = new AbortController();
    const seen: BelayEvent[] = [];
    for await (const event of client.events({ jobId: job.id, lastEventId: "0", signal: controller.signal })) {
      seen.push(event);
      if (event.type === "belay.job.succeeded") controller.abort();
    }
    // The same events, in the same order, as the job's stored log.
    const stored = await client.getJobEvents(job.id);
    expect(seen.map((e) => e.id)).toEqual(stored.items.map((e) => e.id));
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(["belay.job.created", "belay.job.started", "belay.task.started", "belay.task.progress", "belay.task.succeeded"]));
    expect(seen[0]?.type).toBe("belay.job.created");
    expect(seen.at(-1)?.type).toBe("belay.job.succeeded");
    expect(seen.every((e) => e.subject === job.id && e.specversion === "1.0")).toBe(true);
    const seqs = seen.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("a connected stream sees every live event; breaking out of the loop closes it", async () => {
    const stream = await client.connectEvents();
    const { job } = await client.submitJob({ command: ["true"] });
    const types: string[] = [];
    for await (const event of stream) {
      if (event.subject !== job.id) continue;
      types.push(event.type);
      if (event.type === "belay.job.succeeded") break;
    }
    expect(types[0]).toBe("belay.job.created");
    expect(types.at(-1)).toBe("belay.job.succeeded");
    expect(stream.lastEventId).toMatch(/^\d+$/);
    expect(await apiError(client.events({ jobId: unknownId }).next())).toMatchObject({ code: "JOB_NOT_FOUND" });
  });

  it("redeems a sign-in code once for a session token, with no token of its own (POST /ui/sign-in)", async () => {
    const made = await client.createSignInCode({ role: "viewer", principal: "vera" });
    const anonymous = new BelayClient({ url: server.url });
    const token = await anonymous.redeemSignInCode(made.code);
    expect(token).toMatch(/^belay_/);
    expect(await new BelayClient({ url: server.url, token }).whoami()).toMatchObject({ role: "viewer" });
    const again = await apiError(anonymous.redeemSignInCode(made.code));
    expect(again.status).toBe(401);
    expect(again.code).not.toBe("BAD_RESPONSE");
  });

  it("resumes a cancelled job", async () => {
    const { job } = await client.submitJob({ command: ["sleep", "30"] });
    await client.cancelJob(job.id, { wait: true });
    const { job: resumed } = await client.resumeJob(job.id);
    expect(resumed.attempt).toBe(2);
    await client.cancelJob(job.id, { wait: true, force: true });
  });
});

describe("the client's imports", () => {
  it("reach nothing of the server or the engine, and nothing a browser cannot load: only src/client and src/core, no node: module, no package", () => {
    // The web UI bundles the client (src/web uses it), so what it loads, transitively, must run in a browser.
    const src = fileURLToPath(new URL("../../src/", import.meta.url));
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      expect(file.slice(src.length), "the client reaches only src/client and src/core").toMatch(/^(client|core)\//);
      const source = readFileSync(file, "utf8");
      for (const match of source.matchAll(/^(?:import|export)\s+(?:type\s+)?(?:[^;"]*?from\s+)?"([^"]+)"/gms)) {
        const from = match[1] ?? "";
        expect(from, `${file.slice(src.length)} imports ${from}`).toMatch(/^\.\.?\//);
        visit(join(dirname(file), from));
      }
    };
    visit(join(src, "client/index.ts"));
    expect(seen.size).toBeGreaterThan(3);
  });
});
