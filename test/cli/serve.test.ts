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
  it("prints its URL, store, admin token path and a one-time sign-in link; `belay ui` prints fresh links; the CLI finds that token; Ctrl-C stops it with exit 0; a worker on the same file is refused", { timeout: 60_000 }, async () => {
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
      // A one-time sign-in link for the web UI, on the server's own URL.
      const link = new RegExp(`web UI: open (${url?.replaceAll(".", "\\.")}/#sign-in=[A-Za-z0-9_-]{43}) to sign in`).exec(out)?.[1];
      expect(link).toBeDefined();

      // No --token, no BELAY_TOKEN: the CLI reads $BELAY_HOME/admin.token.
      const env = { BELAY_URL: url ?? "", BELAY_HOME: home, BELAY_TOKEN: "" };
      const list = await runCli(["job", "list", "--json"], env);
      expect(list.stderr).toBe("");
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual({ items: [], nextCursor: null });

      // The printed code opens a session once; `belay ui` prints a fresh one (the admin token file is its credential).
      const exchange = (code: string) => fetch(`${url}/ui/sign-in`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ code }) });
      const printed = /#sign-in=(.+)$/.exec(link ?? "")?.[1] ?? "";
      expect((await exchange(printed)).status).toBe(200);
      expect((await exchange(printed)).status).toBe(401);
      const ui = await runCli(["ui"], env);
      expect(ui.code, ui.stderr).toBe(0);
      const fresh = new RegExp(`^${url?.replaceAll(".", "\\.")}/#sign-in=([A-Za-z0-9_-]{43})\n$`).exec(ui.stdout)?.[1];
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(printed);
      expect(ui.stderr).toMatch(/sign in as admin \(admin\); it works once, until \d{4}-/);
      const viewerLink = JSON.parse((await runCli(["ui", "--role", "viewer", "--json"], env)).stdout) as { url: string; role: string };
      expect(viewerLink.role).toBe("viewer");
      expect(viewerLink.url).toMatch(/#sign-in=/);
      const session = (await (await exchange(fresh ?? "")).json()) as { token: string; role: string };
      expect(session.role).toBe("admin");
      // The admin session's token makes links too; a viewer's does not.
      const asSession = await runCli(["ui", "--token", session.token], env);
      expect(asSession.code).toBe(0);
      const viewerToken = JSON.parse((await runCli(["token", "create", "v", "--role", "viewer", "--json"], env)).stdout) as { token: string };
      const refused = await runCli(["ui", "--token", viewerToken.token], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/FORBIDDEN/);

      const worker = await runCli(["worker", "--home", home, "--log-level", "silent"], env);
      expect(worker.code).toBe(1);
      expect(worker.stderr).toMatch(/^error: another Belay engine \(pid \d+\) is using this database/);
      expect(worker.stderr).not.toMatch(/\n\s+at /);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  it("belay worker runs until it is stopped, even with nothing to hold the event loop (SQLite: no socket), then exits 0 on SIGTERM", { timeout: 60_000 }, async () => {
    const home = tempDir();
    homes.push(home);
    const child = spawnCli(["worker", "--db", `sqlite:${join(home, "worker.db")}`, "--home", home, "--log-level", "silent", "--json"]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await waitForOutput(child, /"nodeId"/);
    // Its timers are unref'ed: before the fix it ended here with exit code 13 (unsettled top-level await).
    const early = await Promise.race([exited.then((code) => `exited ${code}`), new Promise<string>((r) => setTimeout(() => r("running"), 2000))]);
    expect(early).toBe("running");
    child.kill("SIGTERM");
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
