/** Issue 15's CLI items, each through the real `belay` binary against one real server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { Job } from "../../src/core/model.ts";
import { offset } from "../../src/cli/format.ts";
import { stepDuration } from "../../src/cli/render-cancellation.ts";
import { belayBin, parseJson, startCliServer } from "./helpers.ts";
import type { CliResult, CliServer } from "./helpers.ts";
import { until } from "../helpers.ts";
import { BelayClient } from "../../src/client/client.ts";

let s: CliServer;
beforeAll(async () => {
  s = await startCliServer({ pools: { gpu: 1 } });
});
afterAll(async () => {
  await s.close();
});

describe("belay token list", () => {
  it("shows when each token was last used, written at most once a minute", async () => {
    const { token: secret } = await s.client.createToken({ name: "reader", role: "viewer" });
    const lastUsed = async (): Promise<string | null> => ((await s.client.listTokens()).items.find((t) => t.name === "reader")?.lastUsedAt ?? null);
    expect(await lastUsed()).toBeNull();
    expect((await s.run(["job", "list"], { env: { BELAY_TOKEN: secret } })).code).toBe(0);
    const first = (await until(lastUsed, (at) => at !== null)) ?? "";
    expect(Date.now() - Date.parse(first)).toBeLessThan(60_000);
    const table = await s.run(["token", "list"]);
    expect(table.stdout).toMatch(/reader\s+reader\s+viewer\s+\S+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+active/);
    expect(table.stdout).toMatch(/admin\s+admin\s+admin\s+\S+\s+\d{4}-\d\d-\d\dT/);
    // A second use within the minute does not write again.
    await new BelayClient({ url: s.url, token: secret }).listJobs();
    await new Promise((r) => setTimeout(r, 200));
    expect(await lastUsed()).toBe(first);
  }, 90_000);
});

const withTimeout = { timeout: 120_000 };

async function running(spec: Record<string, unknown>): Promise<Job> {
  const { job } = await s.client.submitJob(spec);
  return until(async () => (await s.client.getJob(job.id)).job, (j) => j.tasks.some((t) => t.status === "running"));
}

/** Run the CLI on a real pseudo-terminal (util-linux `script`), so it sees a TTY. */
function onTty(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const command = [process.execPath, belayBin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...rest } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: { ...rest, ...s.env, TERM: "xterm", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("one source of times: the record's", () => {
  it("cancel-status shows a task that ended before the cancel at a negative offset; the live view's step times are the record's, with no step shown as started that the record does not say started", withTimeout, async () => {
    const job = await running({ tasks: [{ key: "quick", command: ["true"] }, { key: "slow", command: ["sleep", "30"] }] });
    await until(async () => (await s.client.getJob(job.id)).job, (j) => j.tasks[0]?.status === "succeeded");
    await new Promise((r) => setTimeout(r, 300));
    const live = await s.run(["job", "cancel", job.id]);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain("cancelling job");
    const record = (await s.client.getJobCancellation(job.id)).cancellation;
    for (const step of record.steps) {
      const shown = live.stdout.split("\n").find((l) => new RegExp(`^\\s+[-+][\\d.]+ m?s\\s+${step.name}\\s+${step.status}\\b`).test(l));
      expect(shown, `${step.name} in:\n${live.stdout}`).toBeDefined();
      expect(shown?.trim().split(/\s+/).slice(0, 2).join(" ")).toBe(offset(record.requestedAt, step.startedAt));
      expect(shown).toContain(stepDuration(step));
    }
    expect(live.stdout).not.toMatch(/force_kill\s+started/);
    expect(live.stdout).not.toMatch(/cleanup\s+started/);
    const human = await s.run(["job", "cancel-status", job.id]);
    expect(human.stdout).toMatch(/^quick\s+1\s+finished_first\s+-\s+-\s+-\s+-\d+(\.\d+)? m?s\s+0$/m);
    expect(human.stdout).not.toContain("+0 ms  0");
  });
});

describe("ids by unique prefix, like git", () => {
  it("takes a unique prefix, says a missing one is not found (exit 3) and an ambiguous one is ambiguous (exit 2)", withTimeout, async () => {
    const a = (await s.client.submitJob({ name: "prefix-a", command: ["true"] })).job;
    await s.client.submitJob({ name: "prefix-b", command: ["true"] });
    const short = a.id.slice(0, 23);
    const shown = await s.run(["job", "show", short, "--json"]);
    expect(shown.code).toBe(0);
    expect(parseJson<{ job: Job }>(shown).job.id).toBe(a.id);
    const ambiguous = await s.run(["job", "show", a.id.slice(0, 4)]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/job id prefix "\w{4}" is ambiguous: it matches .*; give more characters/);
    const missing = await s.run(["job", "show", "ffff"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no job id starts with "ffff"');
    expect((await s.run(["job", "show", "xyz!"])).code).toBe(2);
  });
});

describe("ids by unique prefix: --parent and token revoke", () => {
  it("job list --parent takes a unique prefix of the parent's id and lists its child", withTimeout, async () => {
    const parent = (await s.client.submitJob({ name: "prefix-parent", tasks: [{ key: "sub", kind: "job", job: { name: "prefix-child", command: ["true"] } }] })).job;
    const child = await until(async () => (await s.client.listJobs({ parent: parent.id })).items[0], (j) => j !== undefined);
    const listed = await s.run(["job", "list", "--parent", parent.id.slice(0, 23)]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${child?.id ?? "?"}\\s+prefix-child\\s`, "m"));
    expect(listed.stdout).not.toContain(parent.id);
    expect((await s.run(["job", "list", "--parent", "ffff"])).code).toBe(3);
  });

  it("token revoke takes a unique prefix of the token's id", withTimeout, async () => {
    const created = await s.client.createToken({ name: "short-lived", role: "viewer" });
    const revoked = await s.run(["token", "revoke", created.id.slice(0, 23)]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await s.client.listTokens()).items.find((t) => t.id === created.id)?.revokedAt).not.toBeNull();
    const missing = await s.run(["token", "revoke", "ffff"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no token id starts with "ffff"');
  });
});

describe("belay job submit -- CMD with --grace and --timeout; watch --exit-status", () => {
  it("sets the job's graceMs and timeoutMs; the watch's exit code is the job's final status", withTimeout, async () => {
    const submitted = await s.run(["job", "submit", "--json", "--grace", "2s", "--timeout", "1h", "--", "sh", "-c", "exit 3"]);
    expect(submitted.code).toBe(0);
    const { job } = parseJson<{ job: Job }>(submitted);
    expect(job).toMatchObject({ graceMs: 2000, timeoutMs: 3_600_000 });
    expect((await s.run(["job", "submit", "--grace", "soon", "--", "true"])).code).toBe(2);
    const failed = await s.run(["job", "watch", job.id, "--exit-status"]);
    expect(failed.code).toBe(10);
    const ok = (await s.client.submitJob({ command: ["true"] })).job;
    expect((await s.run(["job", "watch", ok.id, "--exit-status"])).code).toBe(0);
    // Without the flag, watching a failed job is a success of the command.
    expect((await s.run(["job", "watch", job.id])).code).toBe(0);
  });
});

describe("following cancels", () => {
  it("--no-wait points at cancel-status --follow, which follows the cancellation to its end", withTimeout, async () => {
    const job = await running({ command: ["sh", "-c", "trap 'sleep 1; exit 0' TERM; sleep 30 & wait"] });
    const started = await s.run(["job", "cancel", job.id, "--no-wait"]);
    expect(started.stdout).toContain(`follow it with: belay job cancel-status ${job.id} --follow`);
    const followed = await s.run(["job", "cancel-status", job.id, "--follow"]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/^status\s+completed$/m);
    expect(followed.stdout).toMatch(/finalize\s+completed/);
  });

  it("cancel --all without --wait points at a command that follows that bulk cancellation by its id and starts no new one", withTimeout, async () => {
    const slow = await running({ queue: "follow-a", command: ["sh", "-c", "trap 'sleep 2; exit 0' TERM; sleep 30 & wait"] });
    const other = await running({ queue: "follow-b", command: ["sleep", "30"] });
    await new Promise((r) => setTimeout(r, 200));
    const started = await s.run(["job", "cancel", "--all", "--status", "running", "--queue", "follow-a"]);
    expect(started.code, started.stderr).toBe(0);
    const bulkId = /^bulk cancellation (\S+) in_progress/m.exec(started.stdout)?.[1] ?? "";
    expect(bulkId, started.stdout).not.toBe("");
    const hint = /^follow it with: belay (.*)$/m.exec(started.stdout)?.[1] ?? "";
    expect(hint).toBe(`job cancellation ${bulkId} --follow`);
    const bulkRecords = async (): Promise<number> => (await s.client.listCancellations({ limit: 1000 })).items.filter((c) => c.scope === "bulk").length;
    const before = await bulkRecords();

    const followed = await s.run(hint.split(" "));
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toContain(`following bulk cancellation ${bulkId}`);
    expect(followed.stdout).toMatch(new RegExp(`^bulk cancellation ${bulkId} completed: 1 completed$`, "m"));
    expect((await s.client.getJob(slow.id)).job.status).toBe("cancelled");
    // It followed; it cancelled nothing more: the job in the other queue runs on, no new bulk record.
    expect((await s.client.getJob(other.id)).job.status).toBe("running");
    expect(await bulkRecords()).toBe(before);

    // Without --follow, and for a finished record, it shows the record.
    const shown = await s.run(["job", "cancellation", bulkId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status\s+completed$/m);
    expect(shown.stdout).toMatch(/^scope\s+bulk$/m);
    expect(shown.stdout).toMatch(/^progress\s+1 of 1 jobs$/m);
    expect((await s.run(["job", "cancellation", bulkId.slice(0, 8)])).code).toBe(2);
    await s.client.cancelJob(other.id, { force: true, wait: true });
  });

  it("cancel --all --wait follows every job's cancel until all have ended", withTimeout, async () => {
    await running({ command: ["sleep", "30"], labels: { batch: "w" } });
    await running({ command: ["sleep", "30"], labels: { batch: "w" } });
    const result = await s.run(["job", "cancel", "--all", "--status", "running", "--label", "batch=w", "--wait"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/2 jobs matched .*; 2 cancels accepted/);
    expect(result.stdout).toMatch(/bulk cancellation \S+ completed: 2 completed$/m);
    const left = await s.client.listJobs({ labels: { batch: "w" } });
    expect(left.items.map((j) => j.status)).toEqual(["cancelled", "cancelled"]);
  });
});

describe("belay pool list", () => {
  it("shows each pool's slots and holders", withTimeout, async () => {
    const job = await running({ tasks: [{ key: "train", command: ["sleep", "30"], uses: ["gpu"] }] });
    const listed = await s.run(["pool", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^POOL\s+USED\s+FREE\s+HOLDER\s+NODE\s+SINCE$/m);
    expect(listed.stdout).toMatch(new RegExp(`^gpu\\s+1/1\\s+0\\s+${job.id}/train\\s+\\S+\\s+\\d{4}-`, "m"));
    expect(parseJson<{ items: unknown[] }>(await s.run(["pool", "list", "--json"])).items).toEqual([
      { name: "gpu", capacity: 1, inUse: 1, holders: [{ jobId: job.id, taskKey: "train", nodeId: expect.any(String), since: expect.any(String) }] },
    ]);
    await s.client.cancelJob(job.id, { force: true, wait: true });
  });
});

describe("colour and the grace countdown on a terminal", () => {
  it("colours statuses on a TTY unless NO_COLOR; never in a pipe", withTimeout, async () => {
    await s.client.submitJob({ name: "colour", command: ["true"] });
    const tty = await onTty(["job", "list"]);
    expect(tty.stdout).toContain("\x1b[");
    const noColor = await onTty(["job", "list"], { NO_COLOR: "1" });
    expect(noColor.stdout).not.toContain("\x1b[");
    expect(noColor.stdout).toMatch(/STATUS/);
    const pipe = await s.run(["job", "list"]);
    expect(pipe.stdout).not.toContain("\x1b[");
  });

  it("counts the grace period down while the runners are given time to exit", withTimeout, async () => {
    const job = await running({ command: ["sh", "-c", "trap '' TERM; sleep 30"], graceMs: 3000 });
    await new Promise((r) => setTimeout(r, 200));
    const result = await onTty(["job", "cancel", job.id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/await_runners\s+started\s+waiting up to 3.00 s/);
    expect(result.stdout).toMatch(/grace period: [0-2]\.\d s left/);
    expect(result.stdout).toMatch(/runner of task main stopped: .*forced/);
  });
});
