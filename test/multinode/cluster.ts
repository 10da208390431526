/**
 * Real Belay processes on one PostgreSQL schema, for the multi-node tests: `belay serve`
 * and `belay worker` started as subprocesses of the CLI, stopped (or SIGKILLed) by the test.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BelayClient } from "../../src/client/client.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { spawnCli, tempDir } from "../cli/helpers.ts";

export const handlers = new URL("../fixtures/engine-handlers.ts", import.meta.url).pathname;

export interface NodeProcess {
  child: ChildProcess;
  info: Record<string, unknown>;
  stderr: () => string;
}

/** Start `belay <command> --json …` and resolve with what it printed once it is up. */
export async function startNode(args: string[], env: Record<string, string> = {}): Promise<NodeProcess> {
  const child = spawnCli([...args, "--json"], { BELAY_LOG_LEVEL: "warn", ...env });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`belay ${args[0]} did not start within 120 s; stderr: ${stderr}`)), 120_000);
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      try {
        const parsed = JSON.parse(stdout) as Record<string, unknown>;
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // not all of it yet
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`belay ${args[0]} exited (${code}) before it was up; stderr: ${stderr}`));
    });
  });
  return { child, info, stderr: () => stderr };
}

export async function stopNode(node: NodeProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((resolve) => node.child.once("exit", resolve));
  node.child.kill(signal);
  await exited;
}

/** A fresh schema with an API-only server on it; workers are added by the test. */
export class Cluster {
  readonly db: string;
  readonly schema: string;
  readonly nodes: NodeProcess[] = [];
  client!: BelayClient;

  constructor(pgUrl: string, schema: string) {
    this.schema = schema;
    this.db = `${pgUrl}?schema=${schema}`;
    this.pgUrl = pgUrl;
  }

  private readonly pgUrl: string;
  private adminToken: string | null = null;

  async startServer(): Promise<NodeProcess> {
    const { node, client } = await this.startServeNode("api", ["--concurrency", "0"]);
    this.client = client;
    return node;
  }

  /** Another `belay serve` on the schema (with `--concurrency N` in `extra` it runs tasks too), and a client of its API. */
  async startServeNode(nodeId: string, extra: string[] = []): Promise<{ node: NodeProcess; client: BelayClient }> {
    const home = tempDir();
    const node = await startNode(["serve", "--db", this.db, "--port", "0", "--home", home, "--node-id", nodeId, "--handlers", handlers, ...extra]);
    this.nodes.push(node);
    // The first server on the schema creates the admin token; the others share the store's tokens.
    const tokenFile = join(home, "admin.token");
    if (existsSync(tokenFile)) this.adminToken ??= readFileSync(tokenFile, "utf8").trim();
    if (this.adminToken === null) throw new Error(`belay serve ${nodeId} wrote no admin token, and no server before it did`);
    return { node, client: new BelayClient({ url: node.info["url"] as string, token: this.adminToken }) };
  }

  async startWorker(nodeId: string, extra: string[] = []): Promise<NodeProcess> {
    const node = await startNode(["worker", "--db", this.db, "--home", tempDir(), "--handlers", handlers, "--node-id", nodeId, "--concurrency", "4", ...extra]);
    this.nodes.push(node);
    return node;
  }

  async close(): Promise<void> {
    // A node that died on its own is a failure of the test, whatever it asserted: say why.
    const died = this.nodes
      .filter((node) => node.child.exitCode !== null && node.child.exitCode !== 0)
      .map((node) => `belay ${String(node.info["nodeId"] ?? "serve")} exited ${node.child.exitCode} on its own:\n${node.stderr().slice(-3000)}`);
    await Promise.all(this.nodes.map((n) => stopNode(n, "SIGKILL")));
    const store = new PostgresStore({ url: this.pgUrl, schema: this.schema });
    await store.dropSchema().catch(() => undefined);
    await store.close();
    if (died.length > 0) throw new Error(died.join("\n\n"));
  }
}

/** Live (not zombie) processes whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (!cmdline.includes(marker)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      if (state !== "Z" && state !== "X") found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
