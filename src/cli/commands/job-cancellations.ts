/**
 * `belay job cancel-status ID` (the job's latest record, with its steps), `belay job
 * cancellation ID` (one record by its own id: a job's, a task's or a bulk one) and `belay job
 * cancellations` (the history).
 */
import { Option } from "commander";
import type { Command } from "commander";
import type { CancellationRecord, CancellationStatus } from "../../core/model.ts";
import { context } from "../config.ts";
import type { CliContext } from "../config.ts";
import { duration, table, time } from "../format.ts";
import { cancellationStatusNames, id, integer, wholeId } from "../options.ts";
import { line, printJson } from "../output.ts";
import { renderCancellation } from "../render-cancellation.ts";
import { followCancellation } from "../live-cancel.ts";
import { resolveJobId } from "../resolve-id.ts";
import { followBulk } from "./job-cancel-bulk.ts";

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
      let record = (await ctx.client.getJobCancellation(jobId)).cancellation;
      if (options.follow === true && record.status === "in_progress") record = await followOne(ctx, jobId, () => ctx.client.getJobCancellation(jobId));
      printRecord(ctx, record);
    });

  job
    .command("cancellation")
    .description("show one cancellation record by its id (a job's, a task's, or a bulk cancel's); --follow follows it until it ends")
    .argument("<cancellation-id>", "the record's whole id, as `job cancel --all`, `job cancel --no-wait` or `job cancellations` print it", wholeId)
    .option("--follow", "if the cancellation is still in progress, follow it until it ends: a bulk one job by job, a job's step by step")
    .action(async (cancellationId: string, options: { follow?: boolean }, command: Command) => {
      const ctx = context(command);
      let record = (await ctx.client.getCancellation(cancellationId)).cancellation;
      if (options.follow === true && record.status === "in_progress") {
        const jobId = record.jobId;
        if (record.scope === "bulk" || jobId === null) {
          if (!ctx.json) line(`following bulk cancellation ${record.id}${record.progress === null ? "" : ` (${record.progress.done} of ${record.progress.total} jobs done)`}`);
          const final = await followBulk(ctx, record, !ctx.json);
          if (ctx.json) printJson({ cancellation: final });
          return;
        }
        record = await followOne(ctx, jobId, () => ctx.client.getCancellation(cancellationId));
      }
      printRecord(ctx, record);
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

/** One record, as JSON or rendered with its steps. */
function printRecord(ctx: CliContext, record: CancellationRecord): void {
  if (ctx.json) printJson({ cancellation: record });
  else line(renderCancellation(record));
}

/** Follow one job's (or task's) cancellation live, step by step, until it ends; `read` re-reads the record. */

async function followOne(ctx: CliContext, jobId: string, read: () => Promise<{ cancellation: CancellationRecord }>): Promise<CancellationRecord> {
  // Subscribe first, then re-read: no step can fall between the two.
  const stream = await ctx.client.connectEvents({ jobId }).catch(() => null);
  const [{ job }, latest] = await Promise.all([ctx.client.getJob(jobId), read()]);
  if (!ctx.json) line(`following cancellation ${latest.cancellation.id} of job ${job.id} (${job.name})`);
  const final = (await followCancellation(ctx.client, stream, { job, cancellation: latest.cancellation }, !ctx.json)).cancellation;
  if (!ctx.json) line("");
  return final;
}
