/**
 * examples/simulation-bridge (seed 000): the example's own agent code, over MCP, against a
 * real server that runs one simulation at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAgent } from "../../examples/simulation-bridge/agent.ts";
import type { ToolError } from "../../examples/simulation-bridge/agent.ts";
import { runBridgeDemo } from "../../examples/simulation-bridge/run.ts";
import type { BridgeDemoResult } from "../../examples/simulation-bridge/run.ts";
import { startCliServer } from "../cli/helpers.ts";
import { readTemplatesFile } from "../../src/cli/commands/node-options.ts";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import type { CliServer } from "../cli/helpers.ts";

describe("example: simulation bridge (cancel_job over MCP)", () => {
  let server: CliServer;
  let result: BridgeDemoResult;
  const lines: string[] = [];

  beforeAll(async () => {
    // As the README's `belay serve --concurrency 1 --templates … --policy …`.
    const dir = new URL("../../examples/simulation-bridge/", import.meta.url).pathname;
    server = await startCliServer({ concurrency: 1, templates: await readTemplatesFile(`${dir}templates.yaml`), policy: parse(readFileSync(`${dir}policy.yaml`, "utf8")) });
    result = await runBridgeDemo({ url: server.url, adminToken: server.token, log: (line) => lines.push(line) });
  });
  afterAll(async () => {
    await server?.close();
  });

  const logText = async (jobId: string): Promise<string> => (await server.client.getLogs(jobId)).items.map((l) => l.line).join("\n");

  it("refuses the viewer's cancel_job (FORBIDDEN) and leaves no record of it, while the viewer can still read the job", async () => {
    const { running } = result;
    expect(running.viewerError.code).toBe("FORBIDDEN");
    expect(running.statusSeenByViewer.status).toBe("running");
    const records = await server.client.listCancellations({ jobId: running.jobId });
    expect(records.total).toBe(1);
    expect(records.items[0]).toMatchObject({ requestedBy: "sim-operator", reason: "parameters were wrong" });
  });

  it("lets the operator cancel a running simulation: the answer is not yet terminal, and polling get_job_status ends at cancelled", async () => {
    const { running } = result;
    expect(running.answer.jobId).toBe(running.jobId);
    expect(running.answer.status).toBe("cancelling");
    expect(running.answer.terminal).toBe(false);
    expect(running.answer.next).toMatch(/get_job_status/);
    expect(running.final).toMatchObject({ status: "cancelled", terminal: true });
    expect(running.statusesSeen.at(-1)).toBe("cancelled");
    // The simulator stopped at its cancellation point, on the signal, without being killed.
    expect(running.record).toMatchObject({ status: "completed", requestedBy: "sim-operator", runnersTerminated: { graceful: 1, forced: 0 } });
    expect(running.record.tasks[0]).toMatchObject({ mode: "graceful", outcome: "mid_run" });
    const log = await logText(running.jobId);
    expect(log).toMatch(/cancellation acknowledged before hour \d+: no result written/);
    expect(log).not.toMatch(/result written to result.json/);
  });

  it("keeps a cancelled job's submission metadata for audit", () => {
    const { job } = result.running.final;
    expect(job.owner).toBe("sim-agent");
    expect(job.labels).toEqual({ tool: "run_simulation", drug: "caffeine" });
    expect(job.params).toMatchObject({ drug: "caffeine", doseMg: 200, hours: 600 });
    expect(job.cancellation?.reason).toBe("parameters were wrong");
  });

  it("removes a queued simulation from the queue before it ever runs", () => {
    const { queued } = result;
    expect(queued.answer).toMatchObject({ jobId: queued.jobId, status: "cancelled", terminal: true });
    expect(queued.final.job.startedAt).toBeNull();
    expect(queued.final.job.tasks.map((t) => t.status)).toEqual(["cancelled"]);
  });

  it("answers JOB_ALREADY_FINISHED for a completed simulation and JOB_NOT_FOUND for an unknown id", async () => {
    expect(result.finished.status).toBe("succeeded");
    expect(result.finished.cancelError.code).toBe("JOB_ALREADY_FINISHED");
    expect(await logText(result.finished.jobId)).toMatch(/result written to result.json/);
    expect(result.unknownError.code).toBe("JOB_NOT_FOUND");
    expect(lines.join("\n")).toMatch(/cancel_job → FORBIDDEN/);
  });

  it("as the seed says, cancel_job needs operator (policy.yaml): the submitting agent (user) may not cancel even its own simulation", async () => {
    const { token } = await server.client.createToken({ name: "sim-agent-2", role: "user" });
    const agent = await connectAgent({ name: "sim-agent-2", url: server.url, token, transport: "http" });
    try {
      const own = await agent.runSimulation({ drug: "caffeine", doseMg: 50, hours: 600, stepMs: 50 });
      const error = await agent.cancelJob(own.jobId).then(
        () => null,
        (e: ToolError) => e,
      );
      expect(error?.code).toBe("FORBIDDEN");
      expect(error?.message).toContain("job.cancel.own");
      expect((await server.client.getJob(own.jobId)).job.cancellation).toBeNull();
      await server.client.cancelJob(own.jobId, { force: true });
    } finally {
      await agent.close();
    }
  });

  it("works the same over stdio (belay mcp): a viewer agent reads, and is refused the cancel", async () => {
    const { token } = await server.client.createToken({ name: "stdio-viewer", role: "viewer" });
    const viewer = await connectAgent({ name: "stdio-viewer", url: server.url, token, transport: "stdio" });
    try {
      const state = await viewer.getJobStatus(result.running.jobId);
      expect(state.status).toBe("cancelled");
      const error = await viewer.cancelJob(result.queued.jobId).then(
        () => null,
        (e: ToolError) => e,
      );
      expect(error?.code).toBe("FORBIDDEN");
    } finally {
      await viewer.close();
    }
  });
});
