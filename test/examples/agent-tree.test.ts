/**
 * examples/agent-tree (seed 004, DESIGN §7): the README's commands against a real server
 * loading the example's handlers. The orchestrator agent spawns sub-agents with
 * `ctx.submitChild`, they spawn their own; `belay job tree` shows the tree; cancelling the
 * orchestrator's job cancels every sub-agent, the record lists each one, and no sub-agent is
 * created after the cancel was accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CancellationRecord, Job } from "../../src/core/model.ts";
import type { JobTreeResponse } from "../../src/client/types.ts";
import { parseJson, startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";
import { until } from "../helpers.ts";

const specFile = "examples/agent-tree/run.json";
const handlers = new URL("../../examples/agent-tree/agents.ts", import.meta.url).pathname;

let s: CliServer;
beforeAll(async () => {
  s = await startCliServer({ handlers, concurrency: 10 });
});
afterAll(async () => {
  await s?.close();
});

function flatten(node: JobTreeResponse["tree"]): Job[] {
  return [node.job, ...node.children.flatMap(flatten)];
}

describe("examples/agent-tree", () => {
  it("spawns sub-agents, shows the tree, and cancels it whole", async () => {
    const submitted = await s.run(["job", "submit", specFile, "--json"]);
    expect(submitted.code).toBe(0);
    const id = parseJson<{ job: Job }>(submitted).job.id;

    // 1 orchestrator, 3 sub-agents, 3 sub-sub-agents: 7 jobs once all are spawned.
    const tree = await until(
      async () => parseJson<JobTreeResponse>(await s.run(["job", "tree", id, "--json"])),
      (t) => t.count === 7 && flatten(t.tree).filter((j) => j.depth === 2).every((j) => j.status === "running"),
      60_000,
    );
    expect(Math.max(...flatten(tree.tree).map((j) => j.depth))).toBe(2);
    const text = await s.run(["job", "tree", id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("agent: api: write the middleware");
    expect(text.stdout).toMatch(/└─ .*agent: docs: document the limits.*running/);
    expect(text.stdout).toContain("7 jobs");

    const cancelled = await s.run(["job", "cancel", id, "--reason", "requirements changed"]);
    expect(cancelled.code).toBe(0);
    const status = await s.run(["job", "cancel-status", id, "--json"]);
    const record = parseJson<{ cancellation: CancellationRecord }>(status).cancellation;
    expect(record.status).toBe("completed");
    expect(record.descendants).toHaveLength(6);
    for (const d of record.descendants ?? []) expect(d).toMatchObject({ outcome: "cancelled", status: "cancelled" });

    const after = parseJson<JobTreeResponse>(await s.run(["job", "tree", id, "--json"]));
    expect(after.count).toBe(7);
    for (const job of flatten(after.tree)) {
      expect(job.status).toBe("cancelled");
      expect(job.createdAt <= record.requestedAt).toBe(true);
    }
  }, 120_000);
});
