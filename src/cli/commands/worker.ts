/** `belay worker`: an engine that runs tasks, with no HTTP API, until Ctrl-C. */
import type { Command } from "commander";
import { isJson } from "../config.ts";
import { collect } from "../options.ts";
import { line, printJson } from "../output.ts";
import { addNodeOptions, engineOptions, stderrLogger, trustOptions, untilStopped } from "./node-options.ts";
import type { NodeOptions } from "./node-options.ts";

interface WorkerCliOptions extends NodeOptions {
  queue?: string[];
}

export function registerWorker(program: Command): void {
  const worker = program
    .command("worker")
    .description("run a worker: claim and run tasks from the store, without an HTTP API")
    .option("--queue <queue>", "claim only from this queue (repeatable; default all)", collect);
  addNodeOptions(worker).action(async (options: WorkerCliOptions, command: Command) => {
    const { openBelay } = await import("../../engine/open.ts");
    const logger = await stderrLogger(options.logLevel);
    // With SQLite, a second engine on a file in use fails here with the engine lock's message.
    const engine = await openBelay({ ...engineOptions(options, logger, "worker"), ...(await trustOptions(options)), ...(options.queue === undefined ? {} : { queues: options.queue }) });
    const info = { nodeId: engine.nodeId, store: engine.store.description, queues: options.queue ?? null };
    if (isJson(command)) printJson(info);
    else {
      line(`Belay worker ${info.nodeId} running`);
      line(`store: ${info.store}`);
      line(`queues: ${info.queues === null ? "all" : info.queues.join(", ")}`);
      line("press Ctrl-C to stop");
    }
    await untilStopped(
      { graceMs: options.grace, drainTimeoutMs: options.drainTimeout },
      { drain: (o) => engine.drain(o), hurryDrain: () => engine.hurryDrain(), close: (graceMs) => engine.close({ graceMs }) },
    );
  });
}
