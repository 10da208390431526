/** Options shared by `belay serve` and `belay worker`: where the store is and how this node runs tasks. */
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Logger } from "pino";
import { integer, pool, remote } from "../options.ts";

export interface NodeOptions {
  db?: string;
  concurrency?: number;
  handlers?: string;
  pool?: Record<string, number>;
  home?: string;
  grace: number;
  logLevel: string;
  lease?: number;
  nodeId?: string;
  remote?: Record<string, string>;
  slurm?: boolean;
}

export function addNodeOptions(command: Command): Command {
  return command
    .option("--db <url>", "database URL: sqlite:PATH or postgres://…[?schema=NAME] (default $BELAY_DB, else sqlite:<home>/belay.db)")
    .option("--concurrency <n>", "tasks this node runs at once (default 10; 0: none)", integer(0, 100_000))
    .option("--handlers <file>", "module whose exported functions are the handlers")
    .option("--pool <name=N>", "a resource pool of N slots (repeatable)", pool)
    .option("--home <dir>", "Belay's directory (default $BELAY_HOME, else ./.belay)")
    .option("--grace <ms>", "on shutdown, how long running tasks get to stop before they are killed", integer(0, 86_400_000), 10_000)
    .option("--log-level <level>", "pino level of the JSON log on stderr", process.env["BELAY_LOG_LEVEL"] ?? "info")
    .option("--lease <ms>", "PostgreSQL: how long this node's tasks stay its own without a heartbeat before other nodes recover them (default 10000)", integer(100, 86_400_000))
    .option("--node-id <id>", "this node's id in the store (default <hostname>:<pid>:<random>)")
    .option("--remote <name=url>", "a remote job service for remote tasks, reached with the http adapter (repeatable)", remote)
    .option("--slurm", "run slurm tasks on the Slurm cluster whose CLI (sbatch, squeue, scontrol, scancel) is on PATH; SLURM_CONF is honoured (docs/slurm.md)");
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

/**
 * Resolve once the node has stopped after SIGINT or SIGTERM: the first signal stops it
 * gracefully (running tasks get `graceMs`), a second one exits at once.
 */
export function untilStopped(graceMs: number, stop: (graceMs: number) => Promise<void>): Promise<void> {
  return new Promise((resolveStopped, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting now; runners left behind are stopped by the next start's recovery\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`${signal}: stopping; running tasks get ${graceMs} ms (press Ctrl-C again to exit at once)\n`);
      stop(graceMs).then(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolveStopped();
      }, reject);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
