/**
 * `belay job cancel ID …` (one job, or one task with `--task`), following the cancellation
 * live until it ends unless `--no-wait`; `belay job cancel --all --status S …` (bulk).
 */
import type { Command } from "commander";
import { BelayApiError } from "../../client/errors.ts";
import { requestLimits } from "../../core/requests.ts";
import type { EventStream } from "../../client/events.ts";
import type { CancelJobRequest, CancelResponse, CancelTaskRequest } from "../../client/types.ts";
import { context } from "../config.ts";
import type { CliContext } from "../config.ts";
import { UsageError } from "../errors.ts";
import { duration } from "../format.ts";
import { followCancellation } from "../live-cancel.ts";
import { id, integer, jobStatuses, label, reasonText } from "../options.ts";
import { line, notice, printJson } from "../output.ts";
import { affectedLine, runnersLine } from "../render-cancellation.ts";
import { cancelBulk } from "./job-cancel-bulk.ts";
import { resolveJobId } from "../resolve-id.ts";
import type { CancelOptions } from "./job-cancel-options.ts";

export function registerJobCancel(job: Command): void {
  job
    .command("cancel")
    .description("cancel a job (or one task), showing each step live until it ends; or, with --all, every job matching a filter")
    .argument("[id]", "job id", id)
    .option("--reason <text>", `why (kept in the record, ≤ ${requestLimits.reasonChars} characters)`, reasonText)
    .option("--force", "skip the grace period: force-kill the runners at once")
    .option("--grace <ms>", "grace period for the runners, in ms", integer(0, requestLimits.graceMs))
    .option("--task <key>", "cancel this task only (with its dependents unless --no-cascade)")
    .option("--no-cascade", "with --task: let the dependents run as if the task were skipped")
    .option("--only-if-pending", "refuse (exit 4, JOB_NOT_PENDING) if the job has started")
    .option("--wait", "with --all: follow every job's cancel until all have ended (a single cancel is followed anyway)")
    .option("--no-wait", "return at once instead of following the cancellation")
    .option("--all", "bulk: cancel every unfinished job matching --status (and --queue, --label)")
    .option("--status <statuses>", "with --all: job statuses, comma-separated", jobStatuses)
    .option("--queue <queue>", "with --all: only this queue")
    .option("--label <key=value>", "with --all: only jobs with this label (repeatable)", label)
    .option("--dry-run", "with --all: count the matching jobs, cancel nothing")
    .option("--schedule <id>", "with --all: only jobs made by this schedule")
    .option("--quiesce", "with --all: first pause the queue (--queue) and the schedules the filter names, so no new work arrives; the record lists what was paused")
    .action(async (jobId: string | undefined, options: CancelOptions, command: Command) => {
      const ctx = context(command);
      if (options.all === true) {
        if (jobId !== undefined) throw new UsageError("give a job id or --all, not both");
        if (options.task !== undefined || options.onlyIfPending === true || command.getOptionValueSource("cascade") === "cli") {
          throw new UsageError("--task, --no-cascade and --only-if-pending apply to one job, not to --all");
        }
        await cancelBulk(ctx, options);
        return;
      }
      if (jobId === undefined) throw new UsageError("give the id of the job to cancel, or --all --status S");
      for (const flag of ["status", "queue", "label", "dryRun", "quiesce", "schedule"] as const) {
        if (options[flag] !== undefined) throw new UsageError(`--${flag === "dryRun" ? "dry-run" : flag} needs --all`);
      }
      if (options.task === undefined && command.getOptionValueSource("cascade") === "cli") throw new UsageError("--no-cascade needs --task");
      if (options.task !== undefined && options.onlyIfPending === true) throw new UsageError("--only-if-pending applies to a job, not to a task");
      await cancelOne(ctx, await resolveJobId(ctx.client, jobId), options, command.getOptionValueSource("cascade") === "cli");
    });
}

async function cancelOne(ctx: CliContext, jobId: string, given: CancelOptions, noCascade: boolean): Promise<void> {
  const { client } = ctx;
  const options = { ...given, wait: given.wait !== false };
  // Subscribe before cancelling, so the steps written by the request itself are seen too.
  let stream: EventStream | null = null;
  if (options.wait) {
    try {
      stream = await client.connectEvents({ jobId });
    } catch (error) {
      if (error instanceof BelayApiError && error.status === 404) throw error;
      // Without the stream, the record is polled instead.
    }
  }
  let response: CancelResponse;
  try {
    const common = {
      ...(options.reason === undefined ? {} : { reason: options.reason }),
      ...(options.force === true ? { force: true } : {}),
      ...(options.grace === undefined ? {} : { graceMs: options.grace }),
    };
    if (options.task !== undefined) {
      const body: CancelTaskRequest = { ...common, ...(noCascade ? { cascade: false } : {}) };
      response = await client.cancelTask(jobId, options.task, body);
    } else {
      const body: CancelJobRequest = { ...common, ...(options.onlyIfPending === true ? { onlyIfPending: true } : {}) };
      response = await client.cancelJob(jobId, body);
    }
  } catch (error) {
    stream?.close();
    throw error;
  }

  if (!options.wait || response.cancellation.status !== "in_progress") stream?.close();
  if (!ctx.json) printHeader(response, options.wait);
  if (!options.wait) {
    if (ctx.json) printJson(response);
    return;
  }
  const final = await followCancellation(client, stream, response, !ctx.json);
  if (ctx.json) printJson(final);
  else printSummary(final);
}

function printHeader(response: CancelResponse, wait: boolean): void {
  const { job, cancellation: record } = response;
  const what = record.taskKey === null ? `job ${job.id} (${job.name})` : `task ${record.taskKey} of job ${job.id} (${job.name})`;
  if (response.alreadyCancelled === true) {
    line(`${what} was already cancelled: cancellation ${record.id} ${record.status}`);
    return;
  }
  line(`cancelling ${what}${record.reason === null ? "" : `: "${record.reason}"`}`);
  line(`cancellation ${record.id} ${record.status}; job ${job.status}${record.force ? " (forced)" : ""}`);
  if (!wait && record.status === "in_progress") line(`follow it with: belay job cancel-status ${job.id} --follow`);
}

function printSummary(final: CancelResponse): void {
  const { job, cancellation: record } = final;
  line(runnersLine(record));
  const affected = affectedLine(record);
  if (affected !== null) line(affected);
  for (const e of record.errors) notice(`warning: ${e}`);
  const task = record.taskKey === null ? "" : `task ${record.taskKey} ${job.tasks.find((t) => t.key === record.taskKey)?.status ?? "?"}; `;
  const outcome = record.status === "too_late" ? "too late: every task had finished first; " : "";
  line(`${outcome}${task}job ${job.id} ${job.status}; cancellation ${record.status} in ${duration(record.durationMs)}`);
  if (record.status === "failed") process.exitCode = 1;
}
