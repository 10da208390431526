/**
 * DESIGN §6 "What a task sees", under `--run-as-uids`: each running attempt has its own uid,
 * so a task of one job cannot read another job's work dir, its `/proc/<pid>/environ` (which
 * holds resolved secrets) nor signal it. Attacks that must fail, against a real server (HTTP
 * on a port), real processes switched to real uids, and a real SQLite file. The same attack
 * under `--run-as` (one shared uid) succeeds: that is what the range is for, and it shows
 * the attack is real.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { BelayClient } from "../../src/client/client.ts";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer, ServeOptions } from "../../src/server/serve.ts";
import { createToken } from "../../src/server/auth.ts";
import { openBelay } from "../../src/engine/open.ts";
import { resolveRunAs, resolveRunAsUids } from "../../src/engine/run-as.ts";
import { uidsOfLiveProcesses } from "../../src/runners/task-users.ts";
import { readProcStat } from "../../src/runners/proc.ts";
import { tempHome, until } from "../helpers.ts";
import { skippedIf } from "../optional.ts";

/** Why this test process cannot switch tasks to other uids, or null when it can. */
function noRoot(): string | null {
  return process.getuid?.() === 0 ? null : "--run-as-uids needs the tests to run as root (to switch tasks to the range's uids)";
}

const secretValue = "sk-uid-test-3c1d-UNIQUE-SECRET";
const templates = {
  templates: [
    // Keeps a private file in its work dir and a secret in its environment, and runs until stopped.
    {
      name: "victim",
      argv: ["/bin/sh", "-c", 'echo "private of $BELAY_JOB_ID" > private.txt; chmod 600 private.txt; echo "ready $$ $(id -u)"; exec sleep 600'],
      env: { API_KEY: { secret: "API_KEY" } },
    },
    // Reads a file ($1), another process's environment and signals it and its group ($2).
    {
      name: "attack",
      argv: [
        "/bin/sh",
        "-c",
        'cat "$1"; echo "cat=$?"; cat "/proc/$2/environ" > /dev/null; echo "environ=$?"; kill -KILL "$2"; echo "kill=$?"; kill -KILL -"$2"; echo "killgroup=$?"',
        "attack",
        "{{file:string}}",
        "{{pid:int}}",
      ],
    },
    { name: "read", argv: ["/bin/sh", "-c", 'cat "$1" > /dev/null; echo "cat=$?"; ls "$2" > /dev/null; echo "ls=$?"', "read", "{{file:string}}", "{{dir:string}}"] },
    { name: "whoami", argv: ["/bin/sh", "-c", 'echo "$(id -u) $(id -g) $(id -G)"'] },
    // Starts a process in a session of its own (out of the task's group), waits until it has
    // left the group (it writes its pid after setsid), and ends.
    {
      name: "escape",
      argv: [
        "/bin/sh",
        "-c",
        "setsid /bin/sh -c 'echo $$ > escaped.pid; exec sleep 600' < /dev/null > /dev/null 2>&1 & while [ ! -s escaped.pid ]; do sleep 0.05; done; echo \"uid $(id -u) escaped $(cat escaped.pid)\"",
      ],
    },
  ],
};

const servers: RunningServer[] = [];
const outsiders: Array<{ kill: (signal: NodeJS.Signals) => boolean }> = [];
afterEach(async () => {
  for (const outsider of outsiders.splice(0)) outsider.kill("SIGKILL");
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Harness {
  server: RunningServer;
  home: string;
  user: BelayClient;
  adminToken: string;
  submit: (template: string, params?: Record<string, unknown>) => Promise<string>;
  ended: (jobId: string) => Promise<{ status: string; stdout: string[]; stderr: string[] }>;
  /** Wait for a victim's `ready <pid> <uid>` line. */
  ready: (jobId: string) => Promise<{ pid: number; uid: number }>;
}

async function harness(options: ServeOptions): Promise<Harness> {
  const home = tempHome();
  const server = await startServer({ home, port: 0, pollIntervalMs: 20, logger: pino({ level: "silent" }), templates, secrets: { API_KEY: secretValue }, ...options });
  servers.push(server);
  const adminToken = readFileSync(join(home, "admin.token"), "utf8").trim();
  const user = new BelayClient({ url: server.url, token: (await createToken(server.engine.store, { name: "uma", role: "user" })).secret });
  const lines = async (jobId: string, stream: string): Promise<string[]> => (await server.engine.getLogs(jobId, { taskKey: "main" })).filter((l) => l.stream === stream).map((l) => l.line);
  return {
    server,
    home,
    user,
    adminToken,
    submit: async (template, params = {}) => (await user.submitJob({ name: template, tasks: [{ key: "main", template, params }] } as never)).job.id,
    ended: async (jobId) => {
      const done = await until(() => server.engine.getJob(jobId), (j) => ["succeeded", "failed", "cancelled"].includes(j.status), 30_000);
      return { status: done.status, stdout: await lines(jobId, "stdout"), stderr: await lines(jobId, "stderr") };
    },
    ready: async (jobId) => {
      const out = await until(() => lines(jobId, "stdout"), (l) => l.some((line) => line.startsWith("ready ")), 30_000);
      const [, pid, uid] = out.find((line) => line.startsWith("ready "))!.split(" ");
      return { pid: Number(pid), uid: Number(uid) };
    },
  };
}

/** A live process (a zombie, dead and waiting for a parent that may never reap it here, is not). */
function alive(pid: number): boolean {
  const state = readProcStat(pid)?.state;
  return state !== undefined && !["Z", "X", "x"].includes(state);
}

/** Job B runs a victim; job A, at the same time, attacks it. Returns what A saw, and B's state after. */
async function attackConcurrentJob(h: Harness): Promise<{ victim: { pid: number; uid: number }; victimJob: string; attack: { status: string; stdout: string[]; stderr: string[] } }> {
  const victimJob = await h.submit("victim");
  const victim = await h.ready(victimJob);
  const file = join(h.home, "work", victimJob, "main.1", "private.txt");
  const attackJob = await h.submit("attack", { file, pid: victim.pid });
  const attack = await h.ended(attackJob);
  return { victim, victimJob, attack };
}

describe("--run-as-uids", skippedIf(noRoot()), () => {
  it("a task cannot read a concurrent job's work dir or /proc/<pid>/environ, nor signal it; the victim keeps running", async () => {
    const h = await harness({ concurrency: 4, runAsUids: resolveRunAsUids("61000-61003") });
    const { victim, victimJob, attack } = await attackConcurrentJob(h);
    expect(victim.uid).toBe(61000);
    expect(attack.status).toBe("succeeded");
    expect(attack.stdout).toEqual(["cat=1", "environ=1", "kill=1", "killgroup=1"]);
    expect(attack.stdout.join("\n")).not.toContain("private of");
    const stderr = attack.stderr.join("\n");
    expect(stderr).toContain(`${join(h.home, "work", victimJob, "main.1", "private.txt")}: Permission denied`);
    expect(stderr).toContain(`/proc/${victim.pid}/environ: Permission denied`);
    expect(stderr.match(/Operation not permitted/g)?.length).toBe(2);
    // B was not touched: its process lives and its job is still running.
    expect(alive(victim.pid)).toBe(true);
    expect((await h.server.engine.getJob(victimJob)).status).toBe("running");
    await h.user.cancelJob(victimJob);
    expect((await h.ended(victimJob)).status).toBe("cancelled");
  });

  it("control: under --run-as (one shared uid) the same attack succeeds", skippedIf(noUseradd()), async () => {
    ensureUser("belay-task");
    const h = await harness({ concurrency: 4, runAs: resolveRunAs("belay-task") });
    const { victim, victimJob, attack } = await attackConcurrentJob(h);
    expect(attack.stdout[0]).toBe(`private of ${victimJob}`);
    expect(attack.stdout.slice(1, 3)).toEqual(["cat=0", "environ=0"]);
    expect(attack.stdout).toContain("kill=0");
    await until(async () => alive(victim.pid), (a) => !a);
    expect((await h.ended(victimJob)).status).toBe("failed");
  });

  it("each running attempt holds its own uid and gid; the uid is handed back when its group is gone (after a kill too) and reused", async () => {
    const h = await harness({ concurrency: 2, runAsUids: resolveRunAsUids("61100-61101") });
    const first = await h.submit("victim");
    const second = await h.submit("victim");
    const [a, b] = [await h.ready(first), await h.ready(second)];
    expect([a.uid, b.uid].sort()).toEqual([61100, 61101]);
    // gid = uid, and none of the node's (root's) supplementary groups.
    expect(readFileSync(`/proc/${a.pid}/status`, "utf8")).toMatch(new RegExp(`^Gid:\\s+${a.uid}\\s+${a.uid}\\s+${a.uid}\\s+${a.uid}$`, "m"));
    expect(readFileSync(`/proc/${a.pid}/status`, "utf8")).toMatch(/^Groups:\s*$/m);
    // Force-cancelled (SIGKILL to each group): both uids come back.
    await h.server.engine.cancelJob(first, { force: true });
    await h.server.engine.cancelJob(second, { force: true });
    await h.ended(first);
    await h.ended(second);
    const again = [await h.submit("victim"), await h.submit("victim")];
    const uids = [(await h.ready(again[0]!)).uid, (await h.ready(again[1]!)).uid].sort();
    expect(uids).toEqual([61100, 61101]);
    for (const job of again) await h.server.engine.cancelJob(job);
    for (const job of again) await h.ended(job);
    // Sequential attempts get the lowest free uid: the one just released.
    expect((await h.ended(await h.submit("whoami"))).stdout).toEqual(["61100 61100 61100"]);
  });

  it("a process that left the task's group dies with the attempt, before its uid is handed out again", async () => {
    const h = await harness({ concurrency: 1, runAsUids: resolveRunAsUids("61200-61200") });
    const escaped = await h.ended(await h.submit("escape"));
    expect(escaped.status).toBe("succeeded");
    const [line] = escaped.stdout;
    expect(line).toMatch(/^uid 61200 escaped \d+$/);
    expect(alive(Number(line!.split(" ")[3]))).toBe(false);
    expect(uidsOfLiveProcesses().has(61200)).toBe(false);
    expect((await h.ended(await h.submit("whoami"))).stdout).toEqual(["61200 61200 61200"]);
  });

  it("an exhausted range fails the attempt clearly, naming the range; other tasks keep running", async () => {
    const h = await harness({ concurrency: 2, runAsUids: resolveRunAsUids("61300-61301") });
    // A process outside Belay holds 61300 (as one left by a crashed node would): the range skips it.
    const outsider = spawn("sleep", ["600"], { uid: 61300, gid: 61300, stdio: "ignore" });
    outsiders.push(outsider);
    await until(async () => uidsOfLiveProcesses().has(61300), (held) => held);
    const running = await h.submit("victim");
    expect((await h.ready(running)).uid).toBe(61301);
    const starved = await h.ended(await h.submit("whoami"));
    expect(starved.status).toBe("failed");
    const job = await h.server.engine.getJob((await h.server.engine.listJobs()).items.find((j) => j.name === "whoami")!.id);
    expect(JSON.stringify(job)).toContain("no free uid in --run-as-uids 61300-61301: 1 held by tasks running on this node, 1 used by other processes on this machine");
    expect((await h.server.engine.getJob(running)).status).toBe("running");
    await h.server.engine.cancelJob(running);
    expect((await h.ended(running)).status).toBe("cancelled");
  });

  it("a second node on the machine whose range overlaps a live node's is refused; once that node stops, it starts", async () => {
    const first = await openBelay({ home: tempHome(), concurrency: 2, runAsUids: resolveRunAsUids("61600-61603") });
    const second = (): Promise<string> =>
      openBelay({ home: tempHome(), concurrency: 2, runAsUids: resolveRunAsUids("61602-61610") }).then(
        async (b) => (await b.close(), "started"),
        (e: Error) => e.message,
      );
    try {
      expect(await second()).toMatch(/--run-as-uids 61602-61610 overlaps 61600-61603, the range of the Belay node with pid \d+ on this machine/);
      // A range beside it is fine.
      const beside = await openBelay({ home: tempHome(), concurrency: 2, runAsUids: resolveRunAsUids("61604-61605") });
      await beside.close();
    } finally {
      await first.close();
    }
    expect(await second()).toBe("started");
  });

  it("a task cannot read the store nor the admin token, nor list the home or the work dirs", async () => {
    const h = await harness({ concurrency: 2, runAsUids: resolveRunAsUids("61400-61401") });
    for (const file of ["admin.token", "belay.db", "belay.db-wal", "belay.db.lock"]) {
      const { stdout } = await h.ended(await h.submit("read", { file: join(h.home, file), dir: join(h.home, "work") }));
      expect({ file, stdout }).toEqual({ file, stdout: ["cat=1", "ls=2"] });
    }
    const { stdout } = await h.ended(await h.submit("read", { file: join(h.home, "admin.token"), dir: h.home }));
    expect(stdout).toEqual(["cat=1", "ls=2"]);
    expect(stdout.join("\n")).not.toContain(h.adminToken);
  });
});

// Checked before anything needs root, so these run everywhere.
describe("--run-as-uids refusals", () => {
  it("refuses at startup a range holding root, a system user or any existing user, a range smaller than the concurrency, and --run-as with it", async () => {
    const refusal = (run: () => unknown): string => {
      try {
        run();
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refusal(() => resolveRunAsUids("0-10"))).toMatch(/includes uid 0 \(root\)/);
    expect(refusal(() => resolveRunAsUids("1-999"))).toMatch(/overlaps existing system users: \S+ \(\d+\)/);
    expect(refusal(() => resolveRunAsUids("65000-65534"))).toMatch(/overlaps existing users: nobody \(65534\)/);
    expect(refusal(() => resolveRunAsUids("61000"))).toMatch(/not a range START-END/);
    expect(refusal(() => resolveRunAsUids("62000-61000"))).toMatch(/START ≤ END/);
    expect(refusal(() => resolveRunAsUids("61000-61999", "root"))).toMatch(/gid 0/);
    const opened = (options: Parameters<typeof openBelay>[0]): Promise<string> => openBelay({ home: tempHome(), ...options }).then(async (b) => (await b.close(), "accepted"), (e: Error) => e.message);
    expect(await opened({ concurrency: 4, runAsUids: { start: 61000, end: 61001, gid: null } })).toMatch(/holds 2 uids but --concurrency is 4/);
    expect(await opened({ concurrency: 1, runAsUids: { start: 61000, end: 61001, gid: null }, runAs: { uid: 61000, gid: 61000 } })).toMatch(/cannot be used together/);
    expect(await opened({ concurrency: 1, runAsUids: { start: 0, end: 1, gid: null } })).toMatch(/includes uid 0/);
  });
});

function noUseradd(): string | null {
  try {
    execFileSync("useradd", ["--help"], { stdio: "ignore" });
    return null;
  } catch {
    return "the --run-as control case needs useradd to create the shared task user";
  }
}

function ensureUser(name: string): void {
  try {
    execFileSync("id", ["-u", name], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { stdio: "ignore" });
  }
}
