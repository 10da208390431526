/**
 * A real `belay serve` subprocess for the chaos tests and where its store lives.
 *
 * The store is behind `ChaosBackend` so that the same scenarios run on either store: the
 * SQLite backend gives the server a fresh home, the PostgreSQL one `--db postgres://…` on a
 * fresh schema (several servers could share it: start more than one on the same backend).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { BelayClient } from "../../src/client/client.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
// The sources, not bin/belay.js: that prefers a tsc build in dist/, which has no crash points.
const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface ChaosBackend {
  readonly name: string;
  /** Where the server keeps its admin token, work dirs and artifacts. */
  readonly home: string;
  /** The arguments that point `belay serve` at this store. */
  serverArgs(): string[];
  /** The store itself, to check what the API does not show (live runners, open records). Close it after use. */
  openStore(): Promise<Store>;
  dispose(): Promise<void>;
}

export interface BackendOptions {
  /** Every start of the server uses this `--node-id` (by default each start is a new node). */
  nodeId?: string;
}

function nodeIdArgs(options: BackendOptions): string[] {
  return options.nodeId === undefined ? [] : ["--node-id", options.nodeId];
}

export function sqliteBackend(home = mkdtempSync(join(tmpdir(), "belay-chaos-")), options: BackendOptions = {}): ChaosBackend {
  return {
    name: "sqlite",
    home,
    serverArgs: () => ["--home", home, ...nodeIdArgs(options)],
    async openStore() {
      const store = new SqliteStore({ path: join(home, "belay.db") });
      await store.migrate();
      return store;
    },
    async dispose() {
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh schema in the database at `url`. A short lease (1 s), so that a restarted server,
 * a new node, recovers the crashed one's work soon after it declared it dead.
 */
export function postgresBackend(url: string, options: BackendOptions = {}): ChaosBackend {
  const home = mkdtempSync(join(tmpdir(), "belay-chaos-"));
  const schema = `belay_chaos_${randomBytes(6).toString("hex")}`;
  return {
    name: "postgres",
    home,
    serverArgs: () => ["--home", home, "--db", `${url}?schema=${schema}`, "--lease", "1000", ...nodeIdArgs(options)],
    async openStore() {
      const store = new PostgresStore({ url, schema });
      await store.migrate();
      return store;
    },
    async dispose() {
      rmSync(home, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface ServerOptions {
  /** `BELAY_CRASH_AT` for this start (src/engine/crash-points.ts). */
  crashAt?: string;
  concurrency?: number;
  handlers?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export interface ChaosServer {
  url: string;
  pid: number;
  token: string;
  client: BelayClient;
  /** Resolves with the exit signal (or code) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isAlive(): boolean;
  /** The tail of the server's stderr (its pino log), for failure messages. */
  stderr(): string;
  /** SIGINT (a graceful stop), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

export async function startServer(backend: ChaosBackend, options: ServerOptions = {}): Promise<ChaosServer> {
  const args = [cliMain, "serve", "--json", "--port", "0", "--log-level", "warn", "--grace", "1000", ...backend.serverArgs()];
  if (options.concurrency !== undefined) args.push("--concurrency", String(options.concurrency));
  if (options.handlers !== undefined) args.push("--handlers", options.handlers);
  args.push(...(options.extraArgs ?? []));
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env["BELAY_CRASH_AT"];
  if (options.crashAt !== undefined) env["BELAY_CRASH_AT"] = options.crashAt;
  const child: ChildProcess = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      alive = false;
      resolve({ code, signal });
    }),
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });

  // `serve --json` prints one pretty-printed document once it listens.
  let stdout = "";
  const info = await new Promise<{ url: string }>((resolve, reject) => {
    // Generous: with the whole suite running, two chaos servers start beside the other test files on two cores.
    const timer = setTimeout(() => reject(new Error(`belay serve did not start within 60 s; stderr: ${stderr}`)), 60_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      stdout += `${line}\n`;
      if (line !== "}") return;
      clearTimeout(timer);
      lines.close();
      resolve(JSON.parse(stdout) as { url: string });
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`belay serve exited (${code ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
  child.stdout?.resume();
  const token = readFileSync(join(backend.home, "admin.token"), "utf8").trim();
  const pid = child.pid ?? 0;
  return {
    url: info.url,
    pid,
    token,
    client: new BelayClient({ url: info.url, token }),
    exited,
    isAlive: () => alive,
    stderr: () => stderr,
    async stop(timeoutMs = 15_000) {
      if (!alive) return;
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!alive) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}
