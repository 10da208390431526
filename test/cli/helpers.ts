/** Running the real `belay` binary as a subprocess, against a real server started in the test process. */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { BelayClient } from "../../src/client/client.ts";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer, ServeOptions } from "../../src/server/serve.ts";

export const belayBin = fileURLToPath(new URL("../../bin/belay.js", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliServer {
  server: RunningServer;
  url: string;
  token: string;
  home: string;
  client: BelayClient;
  env: Record<string, string>;
  /** Run `belay args…` against this server. */
  run(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  close(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "belay-cli-"));
}

/** Spawn the CLI; `env` is added to the test's environment. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [belayBin, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end(input ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** One server per test file: a fresh home, any free port, two task slots; it claims only from `queues`. */
export async function startCliServer(options: ServeOptions = {}): Promise<CliServer> {
  const home = tempDir();
  const server = await startServer({ home, port: 0, concurrency: 2, logger: pino({ level: "silent" }), pollIntervalMs: 20, ...options });
  const token = readFileSync(join(home, "admin.token"), "utf8").trim();
  const env = { BELAY_URL: server.url, BELAY_TOKEN: token };
  return {
    server,
    url: server.url,
    token,
    home,
    client: new BelayClient({ url: server.url, token }),
    env,
    run: (args, o = {}) => runCli(args, { ...env, ...o.env }, o.input),
    async close() {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export function parseJson<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}
