/**
 * examples/nightly-schedule (seed 002): the README's commands with the real `belay` CLI on a
 * real server. A rehearsal schedule fires every two seconds with `overlap: cancel_previous`,
 * so each run is cancelled by the next with a record by system:schedule; then a bulk cancel
 * with --quiesce pauses the schedules and the queue before cancelling, and nothing new arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CancellationRecord, Job } from "../../src/core/model.ts";
import type { Schedule } from "../../src/core/schedules.ts";
import { BelayClient } from "../../src/client/client.ts";
import { parseJson, runCli, startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";
import { until } from "../helpers.ts";

const specFile = "examples/nightly-schedule/nightly.yaml";

describe("examples/nightly-schedule", () => {
  let server: CliServer;

  beforeAll(async () => {
    server = await startCliServer({ schedulePollMs: 100, concurrency: 4 });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  const cli = (...args: string[]) => runCli(args, server.env);
  // Polled over HTTP: a CLI process per poll is too slow on a loaded machine; the README's commands go through the CLI.
  const jobs = async (): Promise<Job[]> => (await new BelayClient({ url: server.server.url, token: server.env["BELAY_TOKEN"] ?? null }).listJobs({ queue: "nightly", limit: 1000 })).items;

  it("creates the nightly schedule in Oslo time, rehearses it with cancel_previous, and quiesces it", async () => {
    const nightly = await cli("schedule", "create", "nightly", specFile, "--cron", "0 2 * * *", "--tz", "Europe/Oslo", "--overlap", "cancel_previous", "--catch-up", "latest");
    expect(nightly.code).toBe(0);
    expect(nightly.stdout).toMatch(/^created schedule [0-9a-f-]{36} \(nightly\); next run /);
    const listed = parseJson<{ items: Schedule[] }>(await cli("schedule", "list", "--json")).items;
    const night = listed.find((s) => s.name === "nightly");
    expect(night).toMatchObject({ cron: "0 2 * * *", timeZone: "Europe/Oslo", overlap: "cancel_previous", catchUp: "latest", paused: false });
    expect([0, 1]).toContain(new Date(night?.nextRunAt ?? "").getUTCHours());

    const rehearsal = await cli("schedule", "create", "rehearsal", specFile, "--cron", "*/2 * * * * *", "--overlap", "cancel_previous");
    expect(rehearsal.code).toBe(0);
    // A run cancelled by the next firing, with its own record.
    const replaced = await until(jobs, (j) => j.some((x) => x.status === "cancelled"), 60_000);
    const victim = replaced.find((x) => x.status === "cancelled");
    const record = parseJson<{ cancellation: CancellationRecord }>(await cli("job", "cancel-status", victim?.id ?? "", "--json")).cancellation;
    expect(record.requestedBy).toBe("system:schedule");
    expect(record.reason).toContain('schedule "rehearsal"');

    const bulk = await cli("job", "cancel", "--all", "--status", "queued,running", "--queue", "nightly", "--quiesce", "--reason", "bad upstream data");
    expect(bulk.code).toBe(0);
    expect(bulk.stdout).toMatch(/paused first: queue nightly; schedules (nightly, rehearsal|rehearsal, nightly)/);
    const after = parseJson<{ items: Schedule[] }>(await cli("schedule", "list", "--json")).items;
    expect(after.every((s) => s.paused && s.nextRunAt === null)).toBe(true);
    const queues = await cli("queue", "list");
    expect(queues.stdout).toMatch(/nightly\s+paused/);
    const settled = await until(jobs, (j) => j.every((x) => ["cancelled", "succeeded", "failed", "partial"].includes(x.status)), 60_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await jobs()).toHaveLength(settled.length);
  }, 240_000);
});
