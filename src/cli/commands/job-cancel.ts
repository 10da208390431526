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
    .option("--dry-run", "cancel nothing: show what the cancel would do (tasks and runners it would stop, compensations); with --all, count the matching jobs")
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
      for (const flag of ["status", "queue", "label", "quiesce", "schedule"] as const) {
        if (options[flag] !== undefined) throw new UsageError(`--${flag} needs --all`);
      }
      if (options.task === undefined && command.getOptionValueSource("cascade") === "cli") throw new UsageError("--no-cascade needs --task");
      if (options.task !== undefined && options.onlyIfPending === true) throw new UsageError("--only-if-pending applies to a job, not to a task");
      await cancelOne(ctx, await resolveJobId(ctx.client, jobId), options, command.getOptionValueSource("cascade") === "cli");
    });
}

/** The request body of one job's (or task's) cancel, from the flags. */
function cancelBody(options: CancelOptions, noCascade: boolean): Omit<CancelJobRequest & CancelTaskRequest, "dryRun"> {
  const common = {
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(options.force === true ? { force: true } : {}),
    ...(options.grace === undefined ? {} : { graceMs: options.grace }),
  };
  return options.task !== undefined ? { ...common, ...(noCascade ? { cascade: false } : {}) } : { ...common, ...(options.onlyIfPending === true ? { onlyIfPending: true } : {}) };
}

/** `--dry-run`: the preview of the cancel (DESIGN §7), from the server's own planner; nothing changes. */
async function previewOne(ctx: CliContext, jobId: string, options: CancelOptions, noCascade: boolean): Promise<void> {
  const body = { ...cancelBody(options, noCascade), dryRun: true as const };
  const answer = options.task !== undefined ? await ctx.client.cancelTask(jobId, options.task, body) : await ctx.client.cancelJob(jobId, body);
  if (ctx.json) {
    printJson(answer);
    return;
  }
  const { job, preview } = answer;
  const what = preview.taskKey === null ? `job ${job.id} (${job.name})` : `task ${preview.taskKey} of job ${job.id} (${job.name})`;
  line(`dry run: nothing was cancelled. Cancelling ${what} would:`);
  if (preview.outcome === "repeat") line("  answer with the cancellation already under way (nothing new to stop)");
  if (preview.outcome === "escalate") line("  escalate the cancellation under way: kill its runners now");
  line(`  move the job ${preview.jobStatus.from} -> ${preview.jobStatus.to}${preview.completesAtOnce ? " and end at once" : ", then run on until every runner has stopped"}`);
  for (const t of preview.tasks) line(`  task ${t.key}: ${t.from} -> ${t.to}`);
  for (const r of preview.runners) {
    line(`  stop runner of ${r.key} (${r.kind}, attempt ${r.attempt}${r.nodeId === null ? "" : ` on ${r.nodeId}`}): ${r.stop === "kill" ? "kill at once" : `signal, then kill after ${duration(r.graceMs)}`}`);
  }
  if (preview.runners.length === 0) line("  stop no runner");
  for (const c of preview.compensations) line(`  run compensation task ${c.key} (${c.kind})`);
  line(`  steps: ${preview.steps.join(" -> ")}`);
}

async function cancelOne(ctx: CliContext, jobId: string, given: CancelOptions, noCascade: boolean): Promise<void> {
  if (given.dryRun === true) {
    await previewOne(ctx, jobId, given, noCascade);
    return;
  }
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
    const body = cancelBody(options, noCascade);
    response = options.task !== undefined ? await client.cancelTask(jobId, options.task, body) : await client.cancelJob(jobId, body);
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
