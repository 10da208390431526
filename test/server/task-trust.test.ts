/**
 * DESIGN §6 "Who may run what", "What a task sees", "Secrets": attacks by a `user` token and
 * by its tasks, each of which must fail, against a real server (HTTP on a port), real
 * processes and a real SQLite file (PostgreSQL too when BELAY_TEST_PG_URL is set).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { BelayClient } from "../../src/client/client.ts";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer, ServeOptions } from "../../src/server/serve.ts";
import { createToken } from "../../src/server/auth.ts";
import { tempHome, until } from "../helpers.ts";
import { noPostgres, skippedIf } from "../optional.ts";

const node = process.execPath;
/** Prints its argv (after the script) as JSON: what the process really received. */
const printArgv = "process.stdout.write(JSON.stringify(process.argv.slice(1)))";
/** Prints its environment as JSON. */
const printEnv = "process.stdout.write(JSON.stringify(process.env))";
/** Reads a file (argv[1]) and prints `read:<content>` or `error:<code>`. */
const readFile = "try { process.stdout.write('read:' + require('fs').readFileSync(process.argv[1], 'utf8')) } catch (e) { process.stdout.write('error:' + e.code) }";
const listDir = "try { process.stdout.write('listed:' + require('fs').readdirSync(process.argv[1]).join(',')) } catch (e) { process.stdout.write('error:' + e.code) }";
/** GETs a URL (argv[1]) without a token and prints `<status> <body>`. */
const fetchUrl = "fetch(process.argv[1], { headers: { host: '127.0.0.1' } }).then(async (r) => process.stdout.write(r.status + ' ' + await r.text()), (e) => process.stdout.write('error ' + e.message))";
const printSecret = "console.log('key=' + process.env.API_KEY); console.log('BELAY_PROGRESS ' + JSON.stringify({ ratio: 0.5, message: 'using ' + process.env.API_KEY }))";

const templates = {
  templates: [
    { name: "argv", argv: [node, "-e", printArgv, "--", "{{text:string}}"] },
    { name: "argv-typed", argv: [node, "-e", printArgv, "--", "--size={{n:int}}", "{{file:path}}", "{{mode:enum(fast|slow)}}"] },
    { name: "env", argv: [node, "-e", printEnv] },
    { name: "read", argv: [node, "-e", readFile, "--", "{{file:string}}"] },
    { name: "list", argv: [node, "-e", listDir, "--", "{{dir:string}}"] },
    { name: "fetch", argv: [node, "-e", fetchUrl, "--", "{{url:string}}"] },
    { name: "use-key", argv: [node, "-e", printSecret], env: { API_KEY: { secret: "API_KEY" }, MODE: "fast" } },
    { name: "whoami", argv: [node, "-e", "process.stdout.write(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), cwd: process.cwd() }))"] },
    {
      name: "write-artifact",
      argv: [node, "-e", "require('fs').writeFileSync(process.env.BELAY_ARTIFACTS + '/out.txt', 'artifact of ' + process.env.BELAY_JOB_ID); require('fs').writeFileSync('scratch.txt', 'x')"],
    },
  ],
};

const secretValue = "sk-live-7e3f9a-UNIQUE-SECRET-VALUE";
const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Harness {
  server: RunningServer;
  home: string;
  admin: BelayClient;
  adminToken: string;
  tokens: Record<"viewer" | "user" | "otherUser" | "operator", string>;
  as: (role: "viewer" | "user" | "otherUser" | "operator") => BelayClient;
  /** Submit a template task as `user`, wait for the end, return the job and its stdout. */
  runTemplate: (template: string, params?: Record<string, unknown>) => Promise<{ status: string; stdout: string; jobId: string }>;
}

async function harness(options: ServeOptions = {}): Promise<Harness> {
  const home = tempHome();
  const server = await startServer({ home, port: 0, concurrency: 4, pollIntervalMs: 20, logger: pino({ level: "silent" }), templates, secrets: { API_KEY: secretValue }, ...options });
  servers.push(server);
  const adminToken = readFileSync(join(home, "admin.token"), "utf8").trim();
  const tokens = {
    viewer: (await createToken(server.engine.store, { name: "vera", role: "viewer" })).secret,
    user: (await createToken(server.engine.store, { name: "uma", role: "user" })).secret,
    otherUser: (await createToken(server.engine.store, { name: "otto", role: "user" })).secret,
    operator: (await createToken(server.engine.store, { name: "oscar", role: "operator" })).secret,
  };
  const as = (role: keyof typeof tokens): BelayClient => new BelayClient({ url: server.url, token: tokens[role] });
  const runTemplate = async (template: string, params: Record<string, unknown> = {}): Promise<{ status: string; stdout: string; jobId: string }> => {
    const { job } = await as("user").submitJob({ name: template, tasks: [{ key: "main", template, params }] } as never);
    const done = await until(() => server.engine.getJob(job.id), (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 30_000);
    const lines = await server.engine.getLogs(job.id, { taskKey: "main" });
    return { status: done.status, stdout: lines.filter((l) => l.stream === "stdout").map((l) => l.line).join("\n"), jobId: job.id };
  };
  return { server, home, admin: new BelayClient({ url: server.url, token: adminToken }), adminToken, tokens, as, runTemplate };
}

async function rawPost(h: Harness, token: string, body: unknown): Promise<{ status: number; json: { error?: { code: string; message: string; details?: Record<string, unknown> } } }> {
  const res = await fetch(`${h.server.url}/api/v1/jobs`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as never };
}

describe("task templates: parameters are data, never code", () => {
  it("hostile string parameters reach the process as one literal argv entry each", async () => {
    const h = await harness();
    const hostile = ["; rm -rf /", "$(id)", "`id`", "a\nb", "x' || touch /tmp/pwned-belay; '", "--help", "*", "$HOME"];
    const runs = await Promise.all(hostile.map(async (text) => ({ text, ...(await h.runTemplate("argv", { text })) })));
    for (const { text, status, stdout } of runs) {
      expect({ text, status }).toEqual({ text, status: "succeeded" });
      expect(JSON.parse(stdout)).toEqual([text]);
    }
  });

  it("a 100 kB parameter, a wrong type, a missing or an extra parameter, an unsafe path is refused with 400 naming the field", async () => {
    const h = await harness();
    const user = h.as("user");
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["argv", { text: "x".repeat(100 * 1024) }, "tasks[0].params.text"],
      ["argv", { text: 12 }, "tasks[0].params.text"],
      ["argv", {}, "tasks[0].params.text"],
      ["argv", { text: "ok", extra: "; id" }, "tasks[0].params.extra"],
      ["argv-typed", { n: "3; id", file: "a.txt", mode: "fast" }, "tasks[0].params.n"],
      ["argv-typed", { n: 1.5, file: "a.txt", mode: "fast" }, "tasks[0].params.n"],
      ["argv-typed", { n: 3, file: "../../etc/passwd", mode: "fast" }, "tasks[0].params.file"],
      ["argv-typed", { n: 3, file: "/etc/passwd", mode: "fast" }, "tasks[0].params.file"],
      ["argv-typed", { n: 3, file: "-rf", mode: "fast" }, "tasks[0].params.file"],
      ["argv-typed", { n: 3, file: "a.txt", mode: "fast; id" }, "tasks[0].params.mode"],
      ["no-such-template", {}, "tasks[0].params"],
    ];
    for (const [template, params, field] of cases) {
      const error = await user.submitJob({ tasks: [{ key: "main", template, params }] } as never).then(
        () => null,
        (e: { status?: number; code?: string; details?: Record<string, unknown> }) => e,
      );
      expect({ template, params: JSON.stringify(params).slice(0, 60), code: error?.code, status: error?.status, field: error?.details?.["field"] }).toEqual({
        template,
        params: JSON.stringify(params).slice(0, 60),
        code: "INVALID_REQUEST",
        status: 400,
        field,
      });
    }
    // A template task cannot smuggle a command, a shell or an env of its own.
    for (const extra of [{ command: ["id"] }, { shell: true }, { env: { LD_PRELOAD: "/tmp/x.so" } }, { cwd: "/" }]) {
      const res = await rawPost(h, h.tokens.user, { tasks: [{ key: "main", template: "env", ...extra }] });
      expect({ extra, status: res.status, code: res.json.error?.code }).toEqual({ extra, status: 400, code: "INVALID_REQUEST" });
    }
    expect((await h.server.engine.listJobs()).items).toEqual([]);
  });

  it("typed parameters are substituted inside their own argv entry", async () => {
    const h = await harness();
    const { stdout } = await h.runTemplate("argv-typed", { n: 30, file: "dir/in put.txt".replace(" ", "_"), mode: "slow" });
    expect(JSON.parse(stdout)).toEqual(["--size=30", "dir/in_put.txt", "slow"]);
  });
});

describe("what a task sees", () => {
  it("a task starts with a minimal environment: nothing of the server's (BELAY_DB, tokens, other variables)", async () => {
    process.env["BELAY_TEST_SERVER_ONLY"] = "server-private-value";
    process.env["BELAY_DB_PASSWORD_PROBE"] = "hunter2";
    try {
      const h = await harness();
      const { stdout, jobId } = await h.runTemplate("env");
      const env = JSON.parse(stdout) as Record<string, string>;
      expect(env["BELAY_TEST_SERVER_ONLY"]).toBeUndefined();
      expect(env["BELAY_DB_PASSWORD_PROBE"]).toBeUndefined();
      expect(env["BELAY_DB"]).toBeUndefined();
      expect(env["BELAY_TOKEN"]).toBeUndefined();
      expect(env["BELAY_HOME"]).toBeUndefined();
      expect(env["PATH"]).toBeTruthy();
      expect(env["HOME"]).toBe(join(h.home, "work", jobId, "main.1"));
      expect(env["BELAY_JOB_ID"]).toBe(jobId);
      const allowed = new Set(["PATH", "LANG", "TZ", "HOME", "BELAY_JOB_ID", "BELAY_TASK_KEY", "BELAY_ATTEMPT", "BELAY_WORK_DIR", "BELAY_ARTIFACTS"]);
      expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
      expect(stdout).not.toContain(h.adminToken);
    } finally {
      delete process.env["BELAY_TEST_SERVER_ONLY"];
      delete process.env["BELAY_DB_PASSWORD_PROBE"];
    }
  });

  it("no route gives a task (which holds no token) a token", async () => {
    const h = await harness();
    for (const path of ["/api/v1/tokens", "/api/v1/jobs", "/api/v1/webhooks"]) {
      const { stdout } = await h.runTemplate("fetch", { url: `${h.server.url}${path}` });
      expect(stdout.startsWith("401 ")).toBe(true);
    }
    // The old loopback-trusting /ui/local-token is gone (sign-in links replaced it): a task on the
    // server's own machine gets no token from it.
    expect(h.server.app.hasRoute({ method: "GET", url: "/ui/local-token" })).toBe(false);
    const local = await h.runTemplate("fetch", { url: `${h.server.url}/ui/local-token` });
    expect(local.stdout).not.toContain(h.adminToken);
    expect(local.stdout.startsWith("404 ")).toBe(true);
  });
});

describe("secrets", () => {
  it("resolved at spawn, masked in the log and in progress, stored nowhere, shown to no one; an unknown name is a 400", async () => {
    const h = await harness();
    const { status, jobId } = await h.runTemplate("use-key");
    expect(status).toBe("succeeded");
    const lines = await h.server.engine.getLogs(jobId);
    expect(lines.map((l) => l.line)).toContain("key=***");
    const events = await h.server.engine.getJobEvents(jobId);
    const progress = events.find((e) => e.type === "belay.task.progress");
    expect(JSON.stringify(progress?.data)).toContain("using ***");

    // An operator's free command may reference a secret too; a missing one is refused at submit.
    const operator = h.as("operator");
    const refused = await operator.submitJob({ command: ["true"], env: { X: { secret: "NOPE" } } } as never).then(() => null, (e: { status: number; code: string }) => e);
    expect(refused).toMatchObject({ status: 400, code: "INVALID_REQUEST" });
    const { job } = await operator.submitJob({ command: [node, "-e", "console.log(process.env.X)"], env: { X: { secret: "API_KEY" } } } as never);
    await until(() => h.server.engine.getJob(job.id), (j) => j.status === "succeeded");
    expect((await h.server.engine.getLogs(job.id)).map((l) => l.line)).toEqual(["***"]);

    // Every route any role can read, as every role: the value never appears.
    for (const role of ["viewer", "user", "operator"] as const) {
      const client = h.as(role);
      const texts = [
        JSON.stringify(await client.getJob(jobId)),
        JSON.stringify(await client.getJob(job.id)),
        JSON.stringify(await client.listJobs({ limit: 100 })),
        JSON.stringify(await client.getLogs(jobId)),
        JSON.stringify(await client.getJobEvents(jobId)),
      ];
      for (const text of texts) expect(text).not.toContain(secretValue);
    }
    const adminTexts = JSON.stringify([await h.admin.getJob(jobId), await h.admin.listJobs({ limit: 100 }), await h.admin.getLogs(job.id)]);
    expect(adminTexts).not.toContain(secretValue);
    // …nor in the SQLite file (and its WAL) after a checkpoint.
    await h.server.close();
    servers.splice(servers.indexOf(h.server), 1);
    const files = readdirSync(h.home).filter((f) => f.startsWith("belay.db"));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(readFileSync(join(h.home, file)).includes(Buffer.from(secretValue))).toBe(false);
    expect(readFileSync(join(h.home, "belay.db")).includes(Buffer.from("API_KEY"))).toBe(true); // the reference is stored, by name
  });

  const pgUrl = process.env["BELAY_TEST_PG_URL"] ?? "";
  it("PostgreSQL: no table holds a secret's value", skippedIf(noPostgres), async () => {
    const schema = `trust_${Date.now()}_${process.pid}`;
    const h = await harness({ db: `${pgUrl}?schema=${schema}` });
    const { status } = await h.runTemplate("use-key");
    expect(status).toBe("succeeded");
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      const tables = (await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = $1", [schema])).rows.map((r) => r.table_name);
      expect(tables.length).toBeGreaterThan(3);
      for (const table of tables) {
        const rows = await client.query<{ t: string }>(`select t::text as t from "${schema}"."${table}" t`);
        for (const row of rows.rows) expect({ table, leaked: row.t.includes(secretValue) }).toEqual({ table, leaked: false });
      }
    } finally {
      await client.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
      await client.end();
    }
  });
});

describe("env values by role", () => {
  it("a viewer (and another user) sees env keys, never values; the owner and operators see them", async () => {
    const h = await harness({ concurrency: 0 });
    const { job } = await h.as("operator").submitJob({ command: ["true"], env: { API_KEY: "s3cret-plain-env", REGION: "eu" } } as never);
    const { job: userJob } = await h.as("user").submitJob({ tasks: [{ key: "main", template: "use-key" }] } as never);
    for (const role of ["viewer", "otherUser"] as const) {
      const client = h.as(role);
      const { job: seen } = await client.getJob(job.id);
      expect(seen.tasks[0]?.spec.process?.env).toEqual({ API_KEY: "***", REGION: "***" });
      const listed = JSON.stringify(await client.listJobs({ limit: 100 }));
      expect(listed).not.toContain("s3cret-plain-env");
      expect(listed).not.toContain('"eu"');
      expect((await client.getJob(userJob.id)).job.tasks[0]?.spec.process?.env).toEqual({ API_KEY: "***", MODE: "***" });
    }
    expect((await h.as("operator").getJob(job.id)).job.tasks[0]?.spec.process?.env).toEqual({ API_KEY: "s3cret-plain-env", REGION: "eu" });
    expect((await h.as("user").getJob(userJob.id)).job.tasks[0]?.spec.process?.env).toEqual({ API_KEY: { secret: "API_KEY" }, MODE: "fast" });
  });
});

/** Why this test process cannot create a user and run tasks as it, or null when it can. */
function noRunAs(): string | null {
  if (process.getuid?.() !== 0) return "--run-as needs the tests to run as root (to create the task user and switch to it)";
  try {
    execFileSync("useradd", ["--help"], { stdio: "ignore" });
    return null;
  } catch {
    return "--run-as tests need useradd to create the task user";
  }
}

function ensureUser(name: string): void {
  try {
    execFileSync("id", ["-u", name], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { stdio: "ignore" });
  }
}

describe("--run-as", skippedIf(noRunAs()), () => {
  it("a user's task runs as the task user and cannot read the store, the admin token, other jobs' files, nor list the work dirs", async () => {
    ensureUser("belay-task");
    const { resolveRunAs } = await import("../../src/engine/run-as.ts");
    const runAs = resolveRunAs("belay-task");
    const h = await harness({ runAs });

    const who = JSON.parse((await h.runTemplate("whoami")).stdout) as { uid: number; gid: number };
    expect(who).toMatchObject({ uid: runAs.uid, gid: runAs.gid });

    for (const file of ["admin.token", "belay.db", "belay.db-wal"]) {
      const { stdout } = await h.runTemplate("read", { file: join(h.home, file) });
      expect({ file, stdout }).toEqual({ file, stdout: "error:EACCES" });
    }
    expect((await h.runTemplate("list", { dir: h.home })).stdout).toBe("error:EACCES");
    expect((await h.runTemplate("list", { dir: join(h.home, "work") })).stdout).toBe("error:EACCES");

    // Another job's artifacts: written by its task as the task user, taken back when it ended.
    const writer = await h.runTemplate("write-artifact");
    expect(writer.status).toBe("succeeded");
    const artifact = join(h.home, "artifacts", writer.jobId, "main", "out.txt");
    expect(readFileSync(artifact, "utf8")).toBe(`artifact of ${writer.jobId}`);
    expect(statSync(artifact).uid).toBe(process.getuid?.());
    expect((await h.runTemplate("read", { file: artifact })).stdout).toBe("error:EACCES");
    // Its scratch dir is gone with its attempt.
    expect((await h.runTemplate("read", { file: join(h.home, "work", writer.jobId, "main.1", "scratch.txt") })).stdout).toMatch(/^error:(ENOENT|EACCES)$/);
    // The environment holds nothing of the server's either.
    const env = JSON.parse((await h.runTemplate("env")).stdout) as Record<string, string>;
    expect(Object.values(env).join("\n")).not.toContain(h.adminToken);
  });
});
