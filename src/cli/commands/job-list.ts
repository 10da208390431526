/** `belay job list [--status S] [--queue Q] [--label k=v] [--owner P] [--name TEXT] [--since TIME] [--parent ID] [--limit N] [--cursor C]`. */
import type { Command } from "commander";
import type { Job } from "../../core/model.ts";
import type { JobStatus } from "../../core/states.ts";
import { context } from "../config.ts";
import { percent, table, time } from "../format.ts";
import { id, integer, jobStatuses, label } from "../options.ts";
import { line, printJson } from "../output.ts";
import { status } from "../style.ts";
import { resolveJobId } from "../resolve-id.ts";

interface ListOptions {
  status?: JobStatus[];
  queue?: string;
  label?: Record<string, string>;
  owner?: string;
  name?: string;
  since?: string;
  parent?: string;
  limit?: number;
  cursor?: string;
}

export function tasksDone(job: Job): string {
  const work = job.tasks.filter((t) => t.runOn === "normal");
  return `${work.filter((t) => t.status === "succeeded").length}/${work.length}`;
}

export function registerJobList(job: Command): void {
  job
    .command("list")
    .description("list jobs, newest first")
    .option("--status <statuses>", "only these statuses (comma-separated)", jobStatuses)
    .option("--queue <queue>", "only this queue")
    .option("--label <key=value>", "only jobs with this label (repeatable)", label)
    .option("--owner <principal>", "only this owner's jobs")
    .option("--name <text>", "only jobs whose name contains this (any case)")
    .option("--since <time>", "only jobs submitted at or after this ISO 8601 time")
    .option("--parent <id>", "only the child jobs of this job, by id or a unique prefix (see also: job tree)", id)
    .option("--limit <n>", "at most this many (1-1000)", integer(1, 1000), 50)
    .option("--cursor <cursor>", "the next page, from a previous list")
    .action(async (options: ListOptions, command: Command) => {
      const ctx = context(command);
      const page = await ctx.client.listJobs({
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.queue === undefined ? {} : { queue: options.queue }),
        ...(options.label === undefined ? {} : { labels: options.label }),
        ...(options.owner === undefined ? {} : { owner: options.owner }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.since === undefined ? {} : { createdAfter: options.since }),
        ...(options.parent === undefined ? {} : { parent: await resolveJobId(ctx.client, options.parent) }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
      });
      if (ctx.json) {
        printJson(page);
        return;
      }
      if (page.items.length === 0) {
        line("no jobs");
        return;
      }
      line(
        table(
          ["ID", "NAME", "STATUS", "QUEUE", "TASKS", "PROGRESS", "OWNER", "CREATED"],
          page.items.map((j) => [j.id, j.name, status(j.status), j.queue, tasksDone(j), percent(j.progress.ratio), j.owner, time(j.createdAt)]),
        ),
      );
      if (page.nextCursor !== null) line(`more: belay job list --cursor ${page.nextCursor}`);
    });
}
