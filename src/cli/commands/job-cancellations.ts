/** `belay job cancel-status ID` (the job's latest record, with its steps) and `belay job cancellations` (the history). */
import { Option } from "commander";
import type { Command } from "commander";
import type { CancellationStatus } from "../../core/model.ts";
import { context } from "../config.ts";
import { duration, table, time } from "../format.ts";
import { cancellationStatusNames, id, integer } from "../options.ts";
import { line, printJson } from "../output.ts";
import { renderCancellation } from "../render-cancellation.ts";

interface HistoryOptions {
  job?: string;
  status?: CancellationStatus;
  limit?: number;
  offset?: number;
}

export function registerJobCancellations(job: Command): void {
  job
    .command("cancel-status")
    .description("show a job's latest cancellation record: steps, runners, tasks")
    .argument("<id>", "job id", id)
    .action(async (jobId: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const body = await ctx.client.getJobCancellation(jobId);
      if (ctx.json) printJson(body);
      else line(renderCancellation(body.cancellation));
    });

  job
    .command("cancellations")
    .description("list cancellation records, newest first")
    .option("--job <id>", "only this job's records", id)
    .addOption(new Option("--status <status>", "only records with this status").choices(cancellationStatusNames))
    .option("--limit <n>", "at most this many (1-1000)", integer(1, 1000), 50)
    .option("--offset <n>", "skip this many", integer(0), 0)
    .action(async (options: HistoryOptions, command: Command) => {
      const ctx = context(command);
      const page = await ctx.client.listCancellations({
        ...(options.job === undefined ? {} : { jobId: options.job }),
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(options.offset === undefined ? {} : { offset: options.offset }),
      });
      if (ctx.json) {
        printJson(page);
        return;
      }
      if (page.items.length === 0) {
        line(page.total === 0 ? "no cancellations" : `no cancellations at offset ${options.offset ?? 0} (${page.total} in all)`);
        return;
      }
      line(
        table(
          ["ID", "SCOPE", "JOB", "TASK", "STATUS", "BY", "REQUESTED", "DURATION", "REASON"],
          page.items.map((c) => [c.id, c.scope, c.jobId ?? "-", c.taskKey ?? "-", c.status, c.requestedBy, time(c.requestedAt), duration(c.durationMs), c.reason ?? ""]),
        ),
      );
      const from = options.offset ?? 0;
      line(`${from + 1}-${from + page.items.length} of ${page.total}`);
    });
}
