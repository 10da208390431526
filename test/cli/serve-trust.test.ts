/**
 * `belay serve --templates --policy --secrets-file` as a real process (DESIGN §6): the flags
 * reach the engine. A user token runs the template, with its secret masked in the log, is
 * refused a free command and (by the policy file) the cancel of its own job; a bad file
 * stops the start with exit 1.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BelayClient } from "../../src/client/client.ts";
import { runCli, spawnCli, tempDir } from "./helpers.ts";

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

function waitForUrl(child: ReturnType<typeof spawnCli>): Promise<string> {
  let out = "";
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL; stdout: ${out}; stderr: ${err}`)), 20_000);
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const url = /Belay listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} early; stdout: ${out}; stderr: ${err}`)));
  });
}

describe("belay serve: trust options", () => {
  it("--templates, --policy and --secrets-file reach the engine", async () => {
    const dir = tempDir();
    homes.push(dir);
    writeFileSync(join(dir, "templates.yaml"), 'templates:\n  - name: greet\n    argv: ["sh", "-c", "echo \\"hello $1 key=$KEY\\"; sleep 30", "greet", "{{who:string}}"]\n    env: { KEY: { secret: GREETING_KEY } }\n');
    writeFileSync(join(dir, "policy.yaml"), "rules:\n  job.cancel.own: operator\n");
    writeFileSync(join(dir, "secrets.yaml"), "GREETING_KEY: cli-secret-value-42\n");
    const home = join(dir, "home");
    const child = spawnCli(["serve", "--port", "0", "--home", home, "--log-level", "silent", "--templates", join(dir, "templates.yaml"), "--policy", join(dir, "policy.yaml"), "--secrets-file", join(dir, "secrets.yaml")]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const url = await waitForUrl(child);
      const admin = new BelayClient({ url, token: readFileSync(join(home, "admin.token"), "utf8").trim() });
      const user = new BelayClient({ url, token: (await admin.createToken({ name: "uma", role: "user" })).token });
      const free = await user.submitJob({ command: ["id"] }).then(() => null, (e: { status: number; details?: Record<string, unknown> }) => e);
      expect(free).toMatchObject({ status: 403, details: { rule: "job.submit.process" } });
      const { job } = await user.submitJob({ tasks: [{ key: "main", template: "greet", params: { who: "$(id); world" } }] } as never);
      let lines: string[] = [];
      for (let i = 0; i < 200 && lines.length === 0; i += 1) {
        lines = (await user.getLogs(job.id)).items.map((l) => l.line);
        if (lines.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(lines).toEqual(["hello $(id); world key=***"]);
      const cancel = await user.cancelJob(job.id).then(() => null, (e: { status: number; details?: Record<string, unknown> }) => e);
      expect(cancel).toMatchObject({ status: 403, details: { rule: "job.cancel.own", needed: "operator" } });
      expect((await admin.cancelJob(job.id, { force: true })).job.id).toBe(job.id);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  it("a bad templates file, an unknown policy action, an unknown --run-as user or a refused --run-as-uids range stops the start with exit 1 and says why", async () => {
    const dir = tempDir();
    homes.push(dir);
    writeFileSync(join(dir, "bad.yaml"), "templates:\n  - name: x\n    argv: [\"{{prog:string}}\"]\n");
    writeFileSync(join(dir, "policy.yaml"), "rules:\n  job.cancel.mine: user\n");
    const home = join(dir, "home");
    const cases: Array<[string[], RegExp]> = [
      [["--templates", join(dir, "bad.yaml")], /templates\[0\]\.argv\[0\]: the program cannot be a parameter/],
      [["--policy", join(dir, "policy.yaml")], /unknown action "job\.cancel\.mine"/],
      [["--run-as", "no-such-user-belay"], /no user "no-such-user-belay"/],
      [["--run-as-uids", "0-999"], /--run-as-uids: 0-999 includes uid 0 \(root\)/],
      [["--run-as-uids", "1-999"], /--run-as-uids: 1-999 overlaps existing system users: /],
      [["--run-as-uids", "61000-61001"], /holds 2 uids but --concurrency is 10/],
      [["--run-as-uids", "61000-61999", "--run-as", "nobody"], /--run-as and --run-as-uids cannot be used together/],
      [["--run-as-group", "nogroup"], /--run-as-group needs --run-as or --run-as-uids/],
      [["--secrets-file", join(dir, "missing.yaml")], /--secrets-file: cannot read/],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli(["serve", "--port", "0", "--home", home, "--log-level", "silent", ...flags]);
      expect({ flags, code: result.code }).toEqual({ flags, code: 1 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
