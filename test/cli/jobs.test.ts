/** `belay job submit|list|show|logs|watch|resume` and `belay token …` as subprocesses against one real server. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/core/model.ts";
import { parseJson, spawnCli, startCliServer } from "./helpers.ts";
import type { CliServer } from "./helpers.ts";

let s: CliServer;
beforeAll(async () => {
  s = await startCliServer();
});
afterAll(async () => {
  await s.close();
});

const unknownId = "0190a7a4-0000-7000-8000-000000000000";

describe("belay job", () => {
  it("submits a two-task YAML graph, watches it to the end, shows it and prints its logs", async () => {
    const file = join(s.home, "job.yaml");
    // `fetch` waits for this file, so the watch below is certain to start while the job runs.
    const go = join(s.home, "go");
    writeFileSync(
      file,
      [
        "name: pipeline",
        "labels: { team: cli }",
        "tasks:",
        "  - key: fetch",
        `    command: [sh, -c, 'echo fetched; while [ ! -f ${go} ]; do sleep 0.02; done']`,
        "  - key: build",
        "    command: [sh, -c, 'echo built']",
        "    dependsOn: [fetch]",
        "",
      ].join("\n"),
    );
    const submitted = await s.run(["job", "submit", file, "--json"]);
    expect(submitted.code).toBe(0);
    const { job } = parseJson<{ job: Job }>(submitted);
    expect(job.name).toBe("pipeline");
    expect(job.tasks.map((t) => t.key)).toEqual(["fetch", "build"]);
    expect(job.tasks[1]?.dependsOn).toEqual([{ key: "fetch", onCancel: "cascade" }]);

    const watch = spawnCli(["job", "watch", job.id], s.env);
    let watchOut = "";
    watch.stdout?.on("data", (d: Buffer) => {
      watchOut += d.toString();
      if (watchOut.startsWith("watching")) writeFileSync(go, "");
    });
    const code = await new Promise<number | null>((resolve) => watch.on("close", resolve));
    const watched = { code, stdout: watchOut };
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/^watching job \S+ \(pipeline\) running/);
    expect(watched.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}task\.started\s+build\s+status=running/m);
    expect(watched.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}job\.succeeded\s+status=succeeded$/m);
    expect(watched.stdout).toMatch(/job .* \(pipeline\) succeeded: 2\/2 tasks succeeded/);

    const shown = await s.run(["job", "show", job.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^job\s+\S+/m);
    expect(shown.stdout).toMatch(/^status\s+succeeded$/m);
    expect(shown.stdout).toMatch(/^TASK\s+KIND\s+STATUS/m);
    expect(shown.stdout).toMatch(/^build\s+process\s+succeeded\s+1\s+0\s+\S+.*\s+fetch$/m);

    const logs = await s.run(["job", "logs", job.id]);
    expect(logs.stdout).toBe("[fetch] fetched\n[build] built\n");
    const one = await s.run(["job", "logs", job.id, "--task", "build", "--json"]);
    expect(parseJson<{ items: Array<{ line: string }> }>(one).items.map((l) => l.line)).toEqual(["built"]);
    const missingTask = await s.run(["job", "logs", job.id, "--task", "nope"]);
    expect(missingTask.code).toBe(3);
    expect(missingTask.stderr).toContain("(TASK_NOT_FOUND)");
  });

  it("submits a command after --, with a name and labels; lists it with filters, as a table and as JSON", async () => {
    const submitted = await s.run(["job", "submit", "--name", "echoer", "--label", "kind=cli-list", "--", "echo", "hello", "--json"]);
    expect(submitted.code).toBe(0);
    // `--json` after `--` is part of the command, so the output is for people.
    expect(submitted.stdout).toMatch(/^submitted job \S+ \(echoer\): queued, 1 task, queue default\n$/);
    const listed = await s.run(["job", "list", "--label", "kind=cli-list", "--json"]);
    const page = parseJson<{ items: Job[] }>(listed);
    expect(page.items).toHaveLength(1);
    expect(page.items[0]?.tasks[0]?.spec.process?.command).toEqual(["echo", "hello", "--json"]);
    const table = await s.run(["job", "list", "--label", "kind=cli-list", "--limit", "5"]);
    const [header, row] = table.stdout.split("\n");
    expect(header).toMatch(/^ID\s+NAME\s+STATUS\s+QUEUE\s+TASKS\s+PROGRESS\s+OWNER\s+CREATED$/);
    expect(row).toContain("echoer");
    // Columns are aligned: each header starts where its cells start.
    expect(row?.indexOf("echoer")).toBe(header?.indexOf("NAME"));
  });

  it("logs --follow prints lines as they come until the job ends", async () => {
    const { job } = await s.client.submitJob({ command: "echo one; sleep 0.6; echo two" });
    const followed = await s.run(["job", "logs", job.id, "--follow"]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe("[main] one\n[main] two\n");
    expect((await s.client.getJob(job.id)).job.status).toBe("succeeded");
  });

  it("submits a spec from stdin with -", async () => {
    const result = await s.run(["job", "submit", "-", "--json"], { input: JSON.stringify({ name: "from-stdin", command: ["true"] }) });
    expect(result.code).toBe(0);
    expect(parseJson<{ job: Job }>(result).job.name).toBe("from-stdin");
  });

  it("exit codes: 3 for an unknown job, 2 for usage mistakes, 4 for a conflict, 1 for a bad spec", async () => {
    const missing = await s.run(["job", "show", unknownId]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(`error: job ${unknownId} not found (JOB_NOT_FOUND)\n`);

    const unknownFlag = await s.run(["job", "list", "--bogus"]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown option '--bogus'");
    const usage = [
      ["job", "show", "not-an-id"],
      ["job", "list", "--status", "sleeping"],
      ["job", "list", "--limit", "0"],
      ["job", "submit"],
      ["job", "cancel"],
      ["job", "cancel", "--all"],
      ["nonsense"],
    ];
    const codes = await Promise.all(usage.map(async (args) => `${args.join(" ")}: ${(await s.run(args)).code}`));
    expect(codes).toEqual(usage.map((args) => `${args.join(" ")}: 2`));

    const bad = await s.run(["job", "submit", "-"], { input: "name: x\ntasks: []\n" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*\(INVALID_REQUEST\)\n$/);

    const { job } = await s.client.submitJob({ command: ["true"] });
    await s.client.waitForJob(job.id, { timeoutMs: 10_000 });
    const finished = await s.run(["job", "cancel", job.id]);
    expect(finished.code).toBe(4);
    expect(finished.stderr).toMatch(/^error: .* \(JOB_ALREADY_FINISHED\)\n$/);
    expect(finished.stderr).not.toMatch(/\n\s+at /);
    const resume = await s.run(["job", "resume", job.id]);
    expect(resume.code).toBe(4);
    expect(resume.stderr).toContain("(JOB_NOT_RESUMABLE)");
  });

  it("resumes a cancelled job as a new attempt", async () => {
    const { job } = await s.client.submitJob({ command: ["sleep", "30"] });
    await s.client.cancelJob(job.id, { wait: true });
    const resumed = await s.run(["job", "resume", job.id]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^job \S+ \(sleep\) (queued|running), attempt 2\n$/);
    await s.client.cancelJob(job.id, { wait: true, force: true });
  });
});

describe("belay token", () => {
  it("creates (secret shown once, with a warning), lists and revokes tokens", async () => {
    const created = await s.run(["token", "create", "ci-bot", "--role", "operator", "--principal", "ci"]);
    expect(created.code).toBe(0);
    const secret = /^(belay_\S+)$/m.exec(created.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(created.stdout).toMatch(/^role\s+operator$/m);
    expect(created.stderr).toMatch(/^warning: .*only time the secret is shown/);

    // The new token works, with its role: an operator may list jobs but not tokens.
    const asOperator = await s.run(["token", "list"], { env: { BELAY_TOKEN: secret ?? "" } });
    expect(asOperator.code).toBe(1);
    expect(asOperator.stderr).toContain("(FORBIDDEN)");

    const listed = await s.run(["token", "list", "--json"]);
    const items = parseJson<{ items: Array<{ id: string; name: string; principal: string; role: string }> }>(listed).items;
    const bot = items.find((t) => t.name === "ci-bot");
    expect(bot).toMatchObject({ principal: "ci", role: "operator" });
    const table = await s.run(["token", "list"]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+PRINCIPAL\s+ROLE\s+CREATED\s+LAST USED\s+STATUS$/m);
    expect(table.stdout).not.toContain(secret);

    const revoked = await s.run(["token", "revoke", bot?.id ?? ""]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`token ${bot?.id} revoked\n`);
    const afterRevoke = await s.run(["job", "list"], { env: { BELAY_TOKEN: secret ?? "" } });
    expect(afterRevoke.code).toBe(1);
    expect(afterRevoke.stderr).toContain("(UNAUTHENTICATED)");

    expect((await s.run(["token", "revoke", unknownId])).code).toBe(3);
    expect((await s.run(["token", "create", "x"])).code).toBe(2);
    expect((await s.run(["token", "create", "x", "--role", "king"])).code).toBe(2);
  });
});
