/** `belay serve` and `belay worker` as real processes: what serve prints, the token file, Ctrl-C, the engine lock. */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli, spawnCli, tempDir } from "./helpers.ts";

const homes: string[] = [];
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

function waitForOutput(child: ReturnType<typeof spawnCli>, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  let out = "";
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} early; stdout: ${out}; stderr: ${err}`)));
  });
}

describe("belay serve", () => {
  it("prints its URL, store and admin token path; the CLI finds that token; Ctrl-C stops it with exit 0; a worker on the same file is refused", async () => {
    const home = tempDir();
    homes.push(home);
    const child = spawnCli(["serve", "--port", "0", "--home", home, "--log-level", "silent"]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const out = await waitForOutput(child, /press Ctrl-C/);
      const url = /Belay listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect(out).toContain(`store: sqlite:${join(home, "belay.db")}`);
      expect(out).toContain(`admin token: ${join(home, "admin.token")}`);

      // No --token, no BELAY_TOKEN: the CLI reads $BELAY_HOME/admin.token.
      const env = { BELAY_URL: url ?? "", BELAY_HOME: home, BELAY_TOKEN: "" };
      const list = await runCli(["job", "list", "--json"], env);
      expect(list.stderr).toBe("");
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual({ items: [], nextCursor: null });

      const worker = await runCli(["worker", "--home", home, "--log-level", "silent"], env);
      expect(worker.code).toBe(1);
      expect(worker.stderr).toMatch(/^error: another Belay engine \(pid \d+\) is using this database/);
      expect(worker.stderr).not.toMatch(/\n\s+at /);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  it("without a token anywhere, a client command fails with UNAUTHENTICATED (exit 1); an unreachable server is exit 1 too", async () => {
    const home = tempDir();
    homes.push(home);
    const noToken = await runCli(["job", "list"], { BELAY_HOME: home, BELAY_TOKEN: "", BELAY_URL: "http://127.0.0.1:9" });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^error: no token: .*\(UNAUTHENTICATED\)\n$/);
    const unreachable = await runCli(["job", "list", "--url", "http://127.0.0.1:9", "--token", "x"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: cannot reach Belay at http:\/\/127\.0\.0\.1:9: .*\(UNREACHABLE\)\n$/);
  });
});
