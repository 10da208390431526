/** `belay job cancel-status ID` (the job's latest record, with its steps) and `belay job cancellations` (the history). */
import { Option } from "commander";
import type { Command } from "commander";
import type { CancellationStatus } from "../../core/model.ts";
import { context } from "../config.ts";
import { duration, table, time } from "../format.ts";
import { cancellationStatusNames, id, integer } from "../options.ts";
import { line, printJson } from "../output.ts";
import { renderCancellation } from "../render-cancellation.ts";
import { followCancellation } from "../live-cancel.ts";
import { resolveJobId } from "../resolve-id.ts";

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
    .argument("<id>", "job id (or a unique prefix)", id)
    .option("--follow", "if the cancellation is still in progress, follow its steps live until it ends")
    .action(async (idOrPrefix: string, options: { follow?: boolean }, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      let body = await ctx.client.getJobCancellation(jobId);
      if (options.follow === true && body.cancellation.status === "in_progress") {
        // Subscribe first, then re-read: no step can fall between the two.
        const stream = await ctx.client.connectEvents({ jobId }).catch(() => null);
        const [{ job }, latest] = await Promise.all([ctx.client.getJob(jobId), ctx.client.getJobCancellation(jobId)]);
        if (!ctx.json) line(`following cancellation ${latest.cancellation.id} of job ${job.id} (${job.name})`);
        body = { cancellation: (await followCancellation(ctx.client, stream, { job, cancellation: latest.cancellation }, !ctx.json)).cancellation };
        if (!ctx.json) line("");
      }
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
        ...(options.job === undefined ? {} : { jobId: await resolveJobId(ctx.client, options.job) }),
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
