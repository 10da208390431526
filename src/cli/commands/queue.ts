/** `belay queue list|pause|resume` (DESIGN §7): a paused queue's tasks are not claimed (pausing needs operator). */
import type { Command } from "commander";
import { requestLimits } from "../../core/requests.ts";
import { context } from "../config.ts";
import { UsageError } from "../errors.ts";
import { table, time } from "../format.ts";
import { line, printJson } from "../output.ts";
import { paint } from "../style.ts";

export function registerQueue(program: Command): void {
  const queue = program.command("queue").description("queues: list them, pause or resume dispatch");

  queue
    .command("list")
    .description("list queues (with tasks, or paused) and whether each is paused")
    .action(async (_options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.listQueues();
      if (ctx.json) return printJson(body);
      line(
        table(
          ["QUEUE", "STATE", "PENDING", "RUNNING", "PAUSED BY", "SINCE", "REASON"],
          body.items.map((q) => [
            q.name,
            q.paused ? paint("paused", "yellow") : "active",
            String(q.pending),
            String(q.running),
            q.pausedBy ?? "-",
            q.pausedAt === null ? "-" : time(q.pausedAt),
            q.reason ?? "-",
          ]),
        ),
      );
    });

  queue
    .command("pause")
    .description("stop dispatching the queue's tasks (running ones go on; queued ones can still be cancelled)")
    .argument("<name>", "the queue")
    .option("--reason <text>", "why (shown by queue list)")
    .action(async (name: string, options: { reason?: string }, command: Command) => {
      const ctx = context(command);
      if (options.reason !== undefined && [...options.reason].length > requestLimits.reasonChars) throw new UsageError(`--reason: at most ${requestLimits.reasonChars} characters`);
      const body = await ctx.client.pauseQueue(name, options.reason === undefined ? {} : { reason: options.reason });
      if (ctx.json) return printJson(body);
      line(`queue ${body.queue.name} paused (${body.queue.pending} task${body.queue.pending === 1 ? "" : "s"} waiting)`);
    });

  queue
    .command("resume")
    .description("dispatch the queue's tasks again")
    .argument("<name>", "the queue")
    .action(async (name: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.resumeQueue(name);
      if (ctx.json) return printJson(body);
      line(`queue ${body.queue.name} resumed`);
    });
}
