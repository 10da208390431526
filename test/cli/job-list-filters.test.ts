/** `belay job list --name --since`: the name substring and time filters of GET /jobs, from the CLI. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCliServer } from "./helpers.ts";
import type { CliServer } from "./helpers.ts";

describe("belay job list --name / --since", () => {
  let server: CliServer;
  beforeAll(async () => {
    server = await startCliServer({ concurrency: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("lists the jobs whose name contains the text, submitted since a time; a bad time is refused in words", async () => {
    await server.client.submitJob({ name: "Nightly-Train", command: ["true"] });
    await new Promise((r) => setTimeout(r, 20));
    const { job: later } = await server.client.submitJob({ name: "nightly-eval", command: ["true"] });
    await server.client.submitJob({ name: "weekly-report", command: ["true"] });

    const byName = await server.run(["job", "list", "--name", "NIGHTLY"]);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.stdout).toContain("Nightly-Train");
    expect(byName.stdout).toContain("nightly-eval");
    expect(byName.stdout).not.toContain("weekly-report");

    const since = await server.run(["job", "list", "--name", "nightly", "--since", later.createdAt]);
    expect(since.code, since.stderr).toBe(0);
    expect(since.stdout).toContain("nightly-eval");
    expect(since.stdout).not.toContain("Nightly-Train");

    const bad = await server.run(["job", "list", "--since", "yesterday"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('createdAfter: "yesterday" is not an ISO 8601 time');
  }, 90_000); // four CLI subprocesses: slow on a busy machine
});
