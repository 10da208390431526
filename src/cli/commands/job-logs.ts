/** `belay job logs ID [--task KEY] [--tail N] [--follow]`: task output (stdout, stderr, handler logs). */
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import type { BelayClient } from "../../client/client.ts";
import { isTerminalStatus } from "../../client/client.ts";
import type { LogLine } from "../../core/model.ts";
import { context } from "../config.ts";
import { id, integer } from "../options.ts";
import { line, printJson, printJsonLine } from "../output.ts";
import { resolveJobId } from "../resolve-id.ts";

interface LogsOptions {
  task?: string;
  tail?: number;
  follow?: boolean;
}

const followIntervalMs = 500;

export function registerJobLogs(job: Command): void {
  job
    .command("logs")
    .description("print the output of a job's tasks")
    .argument("<id>", "job id", id)
    .option("--task <key>", "only this task")
    .option("--tail <n>", "only the last N lines", integer(1, 100_000))
    .option("-f, --follow", "keep printing new lines until the job ends")
    .action(async (idOrPrefix: string, options: LogsOptions, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      const query = { ...(options.task === undefined ? {} : { task: options.task }), ...(options.tail === undefined ? {} : { tail: options.tail }) };
      const first = await ctx.client.getLogs(jobId, query);
      if (options.follow !== true && ctx.json) {
        printJson(first);
        return;
      }
      const print = (l: LogLine): void => (ctx.json ? printJsonLine(l) : line(options.task === undefined ? `[${l.taskKey}] ${l.line}` : l.line));
      first.items.forEach(print);
      if (options.follow === true) await follow(ctx.client, jobId, options.task, first.items.at(-1)?.seq ?? 0, print);
    });
}

/** Poll for lines after `after` until the job is terminal, then read once more for the last ones. */
async function follow(client: BelayClient, jobId: string, task: string | undefined, after: number, print: (l: LogLine) => void): Promise<void> {
  let last = after;
  let finished = false;
  for (;;) {
    // The job's status is read before its lines: once it is terminal, the lines read next are its last.
    const { job } = await client.getJob(jobId);
    const { items } = await client.getLogs(jobId, { after: last, ...(task === undefined ? {} : { task }) });
    items.forEach(print);
    last = items.at(-1)?.seq ?? last;
    if (finished) return;
    finished = isTerminalStatus(job.status);
    await sleep(finished ? 200 : followIntervalMs);
  }
}
