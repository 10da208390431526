/** `belay job submit --batch FILE.ndjson` as a subprocess against a real server. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/model.ts";
import { parseJson, startCliServer } from "./helpers.ts";
import type { CliServer } from "./helpers.ts";

let s: CliServer;
beforeAll(async () => {
  s = await startCliServer({ concurrency: 0 });
});
afterAll(async () => {
  await s.close();
});

describe("belay job submit --batch", () => {
  it("submits every line of an NDJSON file, with --queue and --label applied, and tells the ones an idempotency key found", async () => {
    const file = join(s.home, "jobs.ndjson");
    const lines = [
      JSON.stringify({ name: "one", command: ["true"] }),
      "",
      JSON.stringify({ name: "two", command: ["true"], idempotencyKey: "cli-k" }),
      JSON.stringify({ name: "three", command: ["true"], idempotencyKey: "cli-k" }),
    ];
    writeFileSync(file, `${lines.join("\n")}\n`);
    const result = await s.run(["job", "submit", "--batch", file, "--queue", "bulk", "--label", "src=cli", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const { jobs } = parseJson<{ jobs: Array<{ job: Job; created: boolean }> }>(result);
    expect(jobs.map((r) => [r.job.name, r.created])).toEqual([["one", true], ["two", true], ["two", false]]);
    expect(jobs.every((r) => r.job.queue === "bulk" && r.job.labels["src"] === "cli")).toBe(true);
    const text = await s.run(["job", "submit", "--batch", file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/submitted 1 job; 2 already existed/);
  });

  it("names the file's line of a bad spec, exits non-zero and stores nothing of the file", async () => {
    const before = (await s.client.listJobs({ limit: 1000 })).items.length;
    const file = join(s.home, "bad.ndjson");
    writeFileSync(file, [JSON.stringify({ name: "ok", command: ["true"] }), "", JSON.stringify({ name: "bad", tasks: [] })].join("\n"));
    const result = await s.run(["job", "submit", "--batch", file]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/bad\.ndjson line 3/);
    expect(result.stderr).not.toMatch(/ at .*\.[jt]s:\d+/);
    const notJson = join(s.home, "not-json.ndjson");
    writeFileSync(notJson, `${JSON.stringify({ command: ["true"] })}\n{nope\n`);
    const parsed = await s.run(["job", "submit", "--batch", notJson]);
    expect(parsed.code).not.toBe(0);
    expect(parsed.stderr).toMatch(/line 2 is not valid JSON/);
    expect((await s.client.listJobs({ limit: 1000 })).items.length).toBe(before);
  });

  it("shows progress on stderr for a file longer than one request", async () => {
    const file = join(s.home, "long.ndjson");
    writeFileSync(file, Array.from({ length: 10_500 }, (_, i) => JSON.stringify({ name: `l${i}`, command: ["true"] })).join("\n"));
    const result = await s.run(["job", "submit", "--batch", file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/submitted 10000\/10500/);
    expect(result.stderr).toMatch(/submitted 10500\/10500/);
    expect(result.stdout).toMatch(/submitted 10500 jobs/);
  }, 180_000);
});
