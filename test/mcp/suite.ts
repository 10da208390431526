/**
 * The MCP tools' behaviour, run over both transports (stdio.test.ts, http.test.ts) with the
 * SDK's own client against a real server: the transport files only say how to connect.
 */
import { randomUUID } from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BelayClient } from "../../src/client/client.ts";
import { startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";

export interface ToolCall {
  isError: boolean;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- structured content is asserted field by field
  data: any;
}

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<ToolCall> {
  const result = await client.callTool({ name, arguments: args });
  const content = result.content as Array<{ type: string; text?: string }>;
  const text = content
    .filter((c) => c.type === "text")
    .map((c) => c.text ?? "")
    .join("\n");
  return { isError: result.isError === true, text, data: result.structuredContent ?? null };
}

/** Call a tool that must succeed; its structured content. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as ToolCall.data
export async function ok(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const call = await callTool(client, name, args);
  if (call.isError) throw new Error(`${name} failed: ${call.text}`);
  return call.data;
}

/** Poll get_job_status until `check` holds (generous timeout: the machine is shared). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as ToolCall.data
export async function pollJob(client: Client, jobId: string, check: (state: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await ok(client, "get_job_status", { jobId });
    if (check(state)) return state;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected state; last: ${JSON.stringify({ status: state.status, tasks: state.job.tasks.map((t: { key: string; status: string }) => [t.key, t.status]) })}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface McpTestContext {
  server: CliServer;
  tokens: { admin: string; viewer: string; user: string; operator: string };
}

/** How a transport's test file connects a client with a token (closed by the suite). */
export type Connect = (context: McpTestContext, token: string) => Promise<Client>;

/** The agent holds a user token: it runs the server's templates, not free commands (DESIGN §6). */
const templates = { templates: [{ name: "sleep", argv: ["sleep", "{{seconds:number}}"] }, { name: "true", argv: ["true"] }] };
const sleepJob = (name: string): Record<string, unknown> => ({ name, tasks: [{ key: "main", template: "sleep", params: { seconds: 60 } }], graceMs: 5000 });

export function describeMcpTools(transport: string, connect: Connect, extra?: (get: () => McpTestContext, connect: (token: string) => Promise<Client>) => void): void {
  describe(`MCP tools over ${transport}`, () => {
    let context: McpTestContext;
    const clients: Client[] = [];
    const connectAs = async (token: string): Promise<Client> => {
      const client = await connect(context, token);
      clients.push(client);
      return client;
    };
    let operator: Client;
    let user: Client;

    beforeAll(async () => {
      const server = await startCliServer({ templates });
      const make = async (name: string, role: "viewer" | "user" | "operator"): Promise<string> => (await server.client.createToken({ name, role })).token;
      context = { server, tokens: { admin: server.token, viewer: await make("vera", "viewer"), user: await make("uma", "user"), operator: await make("oscar", "operator") } };
      operator = await connectAs(context.tokens.operator);
      user = await connectAs(context.tokens.user);
    });

    afterAll(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
      await context?.server.close();
    });

    it("lists the ten tools, each with a description and an input schema", async () => {
      const { tools } = await operator.listTools();
      const byName = new Map(tools.map((t) => [t.name, t]));
      expect([...byName.keys()].sort()).toEqual(["cancel_job", "cancel_task", "get_cancellation_status", "get_job_status", "get_job_tree", "list_jobs", "list_schedules", "pause_queue", "pause_schedule", "submit_job"]);
      for (const tool of tools) {
        expect(tool.inputSchema.type).toBe("object");
        expect(tool.description?.length ?? 0).toBeGreaterThan(100);
      }
      const cancel = byName.get("cancel_job");
      expect(cancel?.inputSchema.required).toEqual(["jobId"]);
      expect(Object.keys(cancel?.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(["jobId", "reason", "force"]));
      expect(cancel?.description).toMatch(/get_job_status/);
      expect(byName.get("cancel_task")?.inputSchema.required).toEqual(["jobId", "taskKey"]);
      expect(Object.keys(byName.get("submit_job")?.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(["name", "command", "tasks"]));
    });

    it("submits a job, follows it, cancels it while it runs and shows the cancellation's steps", async () => {
      const submitted = await ok(user, "submit_job", sleepJob("mcp-nap"));
      expect(submitted.jobId).toMatch(/^[0-9a-f-]{36}$/);
      expect(submitted.job.owner).toBe("uma");
      const jobId: string = submitted.jobId;

      const running = await pollJob(user, jobId, (s) => s.status === "running" && s.job.tasks[0].status === "running");
      expect(running.terminal).toBe(false);

      const cancelled = await ok(user, "cancel_job", { jobId, reason: "agent changed its mind" });
      expect(cancelled.jobId).toBe(jobId);
      expect(["cancelling", "cancelled"]).toContain(cancelled.status);
      expect(cancelled.cancellation.reason).toBe("agent changed its mind");

      const final = await pollJob(user, jobId, (s) => s.terminal === true);
      expect(final.status).toBe("cancelled");
      expect(final.job.tasks[0].status).toBe("cancelled");

      const record = await ok(user, "get_cancellation_status", { jobId });
      expect(record.jobId).toBe(jobId);
      expect(record.done).toBe(true);
      expect(record.status).toBe("completed");
      const steps = (record.cancellation.steps as Array<{ name: string }>).map((s) => s.name);
      expect(steps).toEqual(expect.arrayContaining(["block_dispatch", "signal_runners", "await_runners", "finalize"]));
      expect(steps.indexOf("signal_runners")).toBeLessThan(steps.indexOf("finalize"));

      // Repeating the cancel is safe: the same record, flagged as already cancelled.
      const again = await ok(user, "cancel_job", { jobId });
      expect(again).toMatchObject({ jobId, status: "cancelled", alreadyCancelled: true, cancellation: { id: record.cancellation.id } });
    });

    it("previews a cancel with dryRun: the runners it would stop, and nothing changes", async () => {
      const { jobId } = await ok(user, "submit_job", sleepJob("mcp-preview"));
      await pollJob(user, jobId, (s) => s.status === "running" && s.job.tasks[0].status === "running");
      const preview = await ok(user, "cancel_job", { jobId, dryRun: true });
      expect(preview).toMatchObject({ jobId, status: "running", dryRun: true, preview: { outcome: "cancel", descendants: [], runners: [{ key: "main", stop: "signal", graceMs: 5000 }] } });
      const task = await ok(user, "cancel_task", { jobId, taskKey: "main", dryRun: true, force: true });
      expect(task.preview.runners).toEqual([expect.objectContaining({ key: "main", stop: "kill" })]);
      const state = await ok(user, "get_job_status", { jobId });
      expect([state.status, state.job.tasks[0].status, state.job.cancellation]).toEqual(["running", "running", null]);
      await ok(user, "cancel_job", { jobId, force: true });
    });

    it("cancels one task of a job, with its dependents, while the job's other branch goes on", async () => {
      const { jobId } = await ok(user, "submit_job", {
        name: "mcp-graph",
        tasks: [
          { key: "slow", template: "sleep", params: { seconds: 60 } },
          { key: "after", template: "true", dependsOn: ["slow"] },
          { key: "other", template: "sleep", params: { seconds: 60 } },
        ],
      });
      await pollJob(user, jobId, (s) => s.job.tasks.find((t: { key: string }) => t.key === "slow").status === "running");

      const answer = await ok(user, "cancel_task", { jobId, taskKey: "slow", reason: "not needed" });
      expect(answer).toMatchObject({ jobId, taskKey: "slow", cancellation: { scope: "task", taskKey: "slow" } });
      expect(["cancelling", "cancelled"]).toContain(answer.taskStatus);
      // The pending dependent is cancelled at once; the running task is still being stopped.
      expect((answer.affectedTasks as Array<{ key: string }>).map((t) => t.key)).toContain("after");

      const state = await pollJob(user, jobId, (s) => s.job.tasks.find((t: { key: string }) => t.key === "slow").status === "cancelled");
      const status = (key: string): string => state.job.tasks.find((t: { key: string }) => t.key === key).status;
      expect(status("after")).toBe("cancelled");
      expect(status("other")).toBe("running");
      expect(state.terminal).toBe(false);

      await ok(user, "cancel_job", { jobId, force: true });
      await pollJob(user, jobId, (s) => s.terminal === true);
    });

    it("lists jobs as summaries, filtered", async () => {
      const { jobId } = await ok(user, "submit_job", { ...sleepJob("mcp-listed"), labels: { team: "mcp" } });
      const page = await ok(user, "list_jobs", { labels: { team: "mcp" } });
      expect(page.items.map((j: { jobId: string }) => j.jobId)).toEqual([jobId]);
      expect(page.items[0]).toMatchObject({ jobId, name: "mcp-listed", owner: "uma", labels: { team: "mcp" }, terminal: false });
      expect(page.items[0].job).toBeUndefined();

      const cancelledOnly = await ok(user, "list_jobs", { status: "cancelled", limit: 1000 });
      expect(cancelledOnly.items.map((j: { jobId: string }) => j.jobId)).not.toContain(jobId);
      expect(cancelledOnly.items.every((j: { status: string }) => j.status === "cancelled")).toBe(true);

      await ok(user, "cancel_job", { jobId, force: true });
      await pollJob(user, jobId, (s) => s.terminal === true);
    });

    it("checks the caller's role as the HTTP API does: a viewer may read but not cancel, an operator may cancel anyone's job", async () => {
      const viewer = await connectAs(context.tokens.viewer);
      const { jobId } = await ok(user, "submit_job", sleepJob("mcp-guarded"));

      expect((await ok(viewer, "get_job_status", { jobId })).jobId).toBe(jobId);
      const refused = await callTool(viewer, "cancel_job", { jobId });
      expect(refused.isError).toBe(true);
      expect(refused.data.error.code).toBe("FORBIDDEN");
      expect(refused.text).toMatch(/^FORBIDDEN: /);
      const submitRefused = await callTool(viewer, "submit_job", sleepJob("mcp-viewer"));
      expect(submitRefused.data.error.code).toBe("FORBIDDEN");

      // Nothing was cancelled by the refused call.
      const untouched = await ok(operator, "get_job_status", { jobId });
      expect(["queued", "running"]).toContain(untouched.status);
      expect(untouched.job.cancellation).toBeNull();

      const cancelled = await ok(operator, "cancel_job", { jobId, reason: "operator stop", force: true });
      expect(["cancelling", "cancelled"]).toContain(cancelled.status);
      expect((await pollJob(operator, jobId, (s) => s.terminal === true)).status).toBe("cancelled");
      expect((await ok(viewer, "get_cancellation_status", { jobId })).cancellation.requestedBy).toBe("oscar");
    });

    it("a user's free command is refused (operator needed); a viewer never sees a job's env values", async () => {
      const refused = await callTool(user, "submit_job", { name: "mcp-free", command: ["id"] });
      expect(refused.data.error.code).toBe("FORBIDDEN");
      expect(refused.data.error.details).toMatchObject({ needed: "operator", rule: "job.submit.process" });
      const { jobId } = await ok(operator, "submit_job", { name: "mcp-env", command: ["true"], env: { API_KEY: "s3cret-mcp-value" } });
      const viewer = await connectAs(context.tokens.viewer);
      const seen = await callTool(viewer, "get_job_status", { jobId });
      expect(seen.isError).toBeFalsy();
      expect(seen.text).not.toContain("s3cret-mcp-value");
      const listed = await callTool(viewer, "list_jobs", { limit: 1000 });
      expect(listed.text).not.toContain("s3cret-mcp-value");
      // The owner does see it.
      expect((await callTool(operator, "get_job_status", { jobId })).text).toContain("s3cret-mcp-value");
    });

    it("lists schedules with their next run, pauses one (its owner may; a viewer may not) and pauses a queue (operator only)", async () => {
      const http = new BelayClient({ url: context.server.url, token: context.tokens.operator });
      const { schedule } = await http.createSchedule({ name: `mcp-nightly-${randomUUID().slice(0, 8)}`, cron: "0 2 * * *", timeZone: "UTC", job: { name: "nightly", command: ["true"] } });
      const listed = await ok(user, "list_schedules", {});
      expect(listed.items).toContainEqual(expect.objectContaining({ scheduleId: schedule.id, paused: false, nextRunAt: schedule.nextRunAt, overlap: "skip" }));
      const viewer = await connectAs(context.tokens.viewer);
      expect((await callTool(viewer, "pause_schedule", { schedule: schedule.id })).data.error.code).toBe("FORBIDDEN");
      const paused = await ok(operator, "pause_schedule", { schedule: schedule.id });
      expect(paused).toMatchObject({ scheduleId: schedule.id, paused: true, pausedBy: "oscar", nextRunAt: null });
      expect((await callTool(user, "pause_queue", { queue: "mcp-q" })).data.error).toMatchObject({ code: "FORBIDDEN", details: { rule: "queue.pause" } });
      expect(await ok(operator, "pause_queue", { queue: "mcp-q", reason: "agent saw a flood" })).toMatchObject({ name: "mcp-q", paused: true, reason: "agent saw a flood" });
      await http.resumeQueue("mcp-q");
    });

    it("answers API errors as tool errors with the Belay code", async () => {
      const unknown = await callTool(operator, "cancel_job", { jobId: randomUUID() });
      expect(unknown.isError).toBe(true);
      expect(unknown.data.error.code).toBe("JOB_NOT_FOUND");
      expect(unknown.text).toMatch(/^JOB_NOT_FOUND: /);
      expect((await callTool(operator, "get_job_status", { jobId: randomUUID() })).data.error.code).toBe("JOB_NOT_FOUND");
      expect((await callTool(operator, "get_job_status", { jobId: "not-a-uuid" })).data.error.code).toBe("INVALID_REQUEST");
      expect((await callTool(operator, "submit_job", { name: "no tasks" })).data.error.code).toBe("INVALID_REQUEST");

      // A finished job cannot be cancelled, and a job never cancelled has no record.
      const { jobId } = await ok(operator, "submit_job", { name: "mcp-quick", command: ["true"] });
      await pollJob(operator, jobId, (s) => s.terminal === true);
      expect((await callTool(operator, "cancel_job", { jobId })).data.error.code).toBe("JOB_ALREADY_FINISHED");
      expect((await callTool(operator, "get_cancellation_status", { jobId })).data.error.code).toBe("NOT_FOUND");
      // Asked to cancel only a pending job, the agent hears that it is not pending, and how it ended (seed 003).
      const notPending = await callTool(operator, "cancel_job", { jobId, onlyIfPending: true });
      expect(notPending.data.error.code).toBe("JOB_NOT_PENDING");
      expect(notPending.data.error.details).toMatchObject({ status: "succeeded", finished: true });
    });

    it("checks a cancel's options against the contract with the API's own message (lengths in characters)", async () => {
      const { jobId } = await ok(operator, "submit_job", { ...sleepJob("mcp-emoji") });
      // 1000 emoji are 1000 characters: within the limit, whatever their UTF-16 length.
      const fits = await ok(operator, "cancel_job", { jobId, reason: "🛑".repeat(1000), force: true });
      expect(fits.cancellation.reason).toBe("🛑".repeat(1000));
      const other = await ok(operator, "submit_job", { ...sleepJob("mcp-emoji-2") });
      const over = await callTool(operator, "cancel_job", { jobId: other.jobId, reason: "🛑".repeat(1001) });
      expect(over.isError).toBe(true);
      expect(over.text).toMatch(/reason/);
    });

    it("rejects arguments that do not match the schema as a tool error, and keeps serving", async () => {
      const missing = await callTool(operator, "cancel_job", {});
      expect(missing.isError).toBe(true);
      expect(missing.text).toMatch(/jobId/);
      const wrongType = await callTool(operator, "cancel_job", { jobId: 42 });
      expect(wrongType.isError).toBe(true);
      // The connection is still usable.
      expect((await ok(operator, "list_jobs", { limit: 1 })).items).toBeInstanceOf(Array);
    });

    extra?.(() => context, connectAs);
  });
}
