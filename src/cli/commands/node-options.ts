/** Options shared by `belay serve` and `belay worker`: where the store is and how this node runs tasks. */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import type { Logger } from "pino";
import { maxGraceMs } from "../../core/grace.ts";
import { durationMs, integer, pool, remote } from "../options.ts";
import { BelayError } from "../../core/errors.ts";
import { resolveRunAs, resolveRunAsUids } from "../../engine/run-as.ts";
import type { RunAs, RunAsUids } from "../../engine/run-as.ts";

export interface NodeOptions {
  db?: string;
  concurrency?: number;
  handlers?: string;
  pool?: Record<string, number>;
  home?: string;
  grace: number;
  drainTimeout: number;
  logLevel: string;
  lease?: number;
  nodeId?: string;
  remote?: Record<string, string>;
  slurm?: boolean;
  secretsFile?: string;
  runAs?: string;
  runAsUids?: string;
  runAsGroup?: string;
  policy?: string;
  templates?: string;
}

export function addNodeOptions(command: Command): Command {
  return command
    .option("--db <url>", "database URL: sqlite:PATH or postgres://…[?schema=NAME] (default $BELAY_DB, else sqlite:<home>/belay.db)")
    .option("--concurrency <n>", "tasks this node runs at once (default 10; 0: none)", integer(0, 100_000))
    .option("--handlers <file>", "module whose exported functions are the handlers")
    .option("--pool <name=N>", "a resource pool of N slots (repeatable)", pool)
    .option("--home <dir>", "Belay's directory (default $BELAY_HOME, else ./.belay)")
    .option("--grace <ms>", "on shutdown, how long running tasks get to stop before they are killed", integer(0, maxGraceMs), 10_000)
    .option("--drain-timeout <duration>", "on SIGTERM, how long running tasks get to end on their own before they are handed back to the queue (1500, 30s, 5m)", durationMs, 30_000)
    .option("--log-level <level>", "pino level of the JSON log on stderr", process.env["BELAY_LOG_LEVEL"] ?? "info")
    .option("--lease <ms>", "PostgreSQL: how long this node's tasks stay its own without a heartbeat before other nodes recover them (default 10000)", integer(100, 86_400_000))
    .option("--node-id <id>", "this node's id in the store (default <hostname>:<pid>:<random>)")
    .option("--remote <name=url>", "a remote job service for remote tasks, reached with the http adapter (repeatable)", remote)
    .option("--secrets-file <file>", 'YAML or JSON map of secret name → value, for {"secret": NAME} env values (BELAY_SECRET_<NAME> works too)')
    .option("--run-as <user>", "run process tasks as this user (the node must run as root); see docs/security.md")
    .option("--slurm", "run slurm tasks on the Slurm cluster whose CLI (sbatch, squeue, scontrol, scancel) is on PATH; SLURM_CONF is honoured (docs/slurm.md)")
    .option("--run-as-uids <start-end>", "run each process task under its own uid of this range, e.g. 61000-61999 (the node must run as root); see docs/security.md")
    .option("--run-as-group <group>", "with --run-as: the group tasks run as (default: the user's group); with --run-as-uids: the one group of all tasks (default: each uid's gid is the uid)");
}

/** `belay serve` only: what the API lets callers do. */
export function addPolicyOptions(command: Command): Command {
  return command
    .option("--policy <file>", "YAML or JSON {rules: {action: role}}: the least role of each action (docs/security.md)")
    .option("--templates <file>", "YAML or JSON task templates: named commands with typed parameters that user tokens may run");
}

/** A YAML (or JSON, which is YAML) file, for the options that name one. */
async function readStructuredFile(path: string, option: string): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new BelayError("INVALID_REQUEST", `${option}: cannot read ${path}: ${(error as Error).message}`, { details: { field: option } });
  }
  try {
    return (await import("yaml")).parse(text);
  } catch (error) {
    throw new BelayError("INVALID_REQUEST", `${option}: ${path} is not valid YAML or JSON: ${(error as Error).message}`, { details: { field: option } });
  }
}

/**
 * A templates file, with argv entries that start with `./` (and hold no placeholder) made
 * absolute against the file's directory: a deployer keeps scripts beside their templates.
 */
export async function readTemplatesFile(path: string): Promise<unknown> {
  const raw = await readStructuredFile(path, "--templates");
  const base = dirname(resolve(path));
  const list = Array.isArray(raw) ? raw : (raw as { templates?: unknown } | null)?.templates;
  if (Array.isArray(list)) {
    for (const template of list as Array<{ argv?: unknown }>) {
      if (typeof template !== "object" || template === null || !Array.isArray(template.argv)) continue;
      template.argv = template.argv.map((entry: unknown) => (typeof entry === "string" && entry.startsWith("./") && !entry.includes("{{") ? join(base, entry) : entry));
    }
  }
  return raw;
}

type TrustOptions = { policy?: unknown; templates?: unknown; secrets?: Record<string, string>; runAs?: RunAs; runAsUids?: RunAsUids };

/** The engine options of --policy, --templates, --secrets-file, --run-as and --run-as-uids, read and checked. */
export async function trustOptions(options: NodeOptions): Promise<TrustOptions> {
  const result: TrustOptions = {};
  if (options.policy !== undefined) result.policy = await readStructuredFile(options.policy, "--policy");
  if (options.templates !== undefined) result.templates = await readTemplatesFile(options.templates);
  if (options.secretsFile !== undefined) {
    const secrets = await readStructuredFile(options.secretsFile, "--secrets-file");
    if (typeof secrets !== "object" || secrets === null || Array.isArray(secrets) || Object.values(secrets).some((v) => typeof v !== "string")) {
      throw new BelayError("INVALID_REQUEST", `--secrets-file: ${options.secretsFile} must map names to string values`, { details: { field: "--secrets-file" } });
    }
    result.secrets = secrets as Record<string, string>;
  }
  if (options.runAsGroup !== undefined && options.runAs === undefined && options.runAsUids === undefined) {
    throw new BelayError("INVALID_REQUEST", "--run-as-group needs --run-as or --run-as-uids", { details: { field: "--run-as-group" } });
  }
  if (options.runAs !== undefined && options.runAsUids !== undefined) {
    throw new BelayError("INVALID_REQUEST", "--run-as and --run-as-uids cannot be used together: one uid for every task, or one per running task", { details: { field: "--run-as-uids" } });
  }
  if (options.runAs !== undefined) result.runAs = resolveRunAs(options.runAs, options.runAsGroup);
  if (options.runAsUids !== undefined) result.runAsUids = resolveRunAsUids(options.runAsUids, options.runAsGroup);
  return result;
}

/** The engine options the node options stand for (unset ones are left to the engine's defaults). */
export function engineOptions(options: NodeOptions, logger: Logger, role: "serve" | "worker"): {
  db?: string;
  concurrency?: number;
  handlers?: string;
  pools?: Record<string, number>;
  home?: string;
  logger: Logger;
  role: string;
  leaseMs?: number;
  nodeId?: string;
  remotes?: Record<string, string>;
  slurm?: boolean;
} {
  return {
    logger,
    role,
    ...(options.lease === undefined ? {} : { leaseMs: options.lease }),
    ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
    ...(options.remote === undefined ? {} : { remotes: options.remote }),
    ...(options.slurm === true ? { slurm: true } : {}),
    ...(options.db === undefined ? {} : { db: options.db }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.handlers === undefined ? {} : { handlers: resolve(options.handlers) }),
    ...(options.pool === undefined ? {} : { pools: options.pool }),
    ...(options.home === undefined ? {} : { home: options.home }),
  };
}

/** The log goes to stderr so stdout carries only what the command prints. */
export async function stderrLogger(level: string): Promise<Logger> {
  const { pino } = await import("pino");
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}

/** What the first signal asks of a node: drain it, then close it; a second signal hurries the drain. */
export interface Stoppable {
  drain(options: { timeoutMs: number }): Promise<unknown>;
  hurryDrain(): void;
  close(graceMs: number): Promise<void>;
}

/** How long a second signal waits for the hurried hand-back to be stored before the process exits anyway. */
const secondSignalExitMs = 5_000;

/**
 * Resolve once the node has stopped after SIGINT or SIGTERM (DESIGN §7 "Drain"). The first
 * signal drains: claiming stops at once (`/readyz` fails), running tasks get `drainTimeoutMs`
 * to end on their own, the rest are handed back to the queue (each getting its grace), then
 * the node closes. A second signal stops at once: the tasks left are killed and handed back
 * now, and the process exits (within a few seconds at most, whatever is still being written).
 */
export function untilStopped(options: { graceMs: number; drainTimeoutMs: number }, node: Stoppable): Promise<void> {
  return new Promise((resolveStopped, reject) => {
    // A node runs until it is told to stop, not until its handles run out: its own timers are
    // unref'ed, so a worker on SQLite (no socket at all), or on PostgreSQL the moment every
    // connection has dropped, would otherwise end at once, exit code 13.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`${signal} again: stopping at once; running tasks are killed and handed back to the queue\n`);
        node.hurryDrain();
        setTimeout(() => process.exit(1), secondSignalExitMs).unref();
        return;
      }
      stopping = true;
      process.stderr.write(`${signal}: draining; no new tasks are claimed, running tasks get ${options.drainTimeoutMs} ms to end, then are handed back to the queue (send ${signal} again to stop at once)\n`);
      node
        .drain({ timeoutMs: options.drainTimeoutMs })
        .then(() => node.close(options.graceMs))
        .then(() => {
          clearInterval(keepAlive);
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolveStopped();
        }, (error: unknown) => {
          clearInterval(keepAlive);
          reject(error);
        });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
