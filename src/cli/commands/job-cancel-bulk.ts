/** `belay job cancel --all --status S [--queue Q] [--label k=v] [--dry-run]`: bulk cancel by filter (operator role). */
import type { BulkCancelFilter } from "../../client/types.ts";
import type { CliContext } from "../config.ts";
import { UsageError } from "../errors.ts";
import { labels } from "../format.ts";
import { line, printJson } from "../output.ts";
import { status } from "../style.ts";
import type { CancellationRecord } from "../../core/model.ts";
import type { CancelOptions } from "./job-cancel-options.ts";

export async function cancelBulk(ctx: CliContext, options: CancelOptions): Promise<void> {
  // --status is required so that a slip of the keyboard never cancels every job.
  if (options.status === undefined || options.status.length === 0) throw new UsageError("--all needs --status (e.g. --status queued,running)");
  const filter: BulkCancelFilter = {
    status: options.status,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.label === undefined ? {} : { labels: options.label }),
    ...(options.schedule === undefined ? {} : { scheduleId: options.schedule }),
  };
  const result = await ctx.client.cancelJobs({
    filter,
    ...(options.dryRun === true ? { dryRun: true } : {}),
    ...(options.quiesce === true ? { quiesce: true } : {}),
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(options.force === true ? { force: true } : {}),
    ...(options.grace === undefined ? {} : { graceMs: options.grace }),
  });
  if (ctx.json) {
    printJson(result);
    return;
  }
  const what = `status ${options.status.join(",")}${options.queue === undefined ? "" : `, queue ${options.queue}`}${options.label === undefined ? "" : `, labels ${labels(options.label)}`}`;
  if (options.dryRun === true) {
    line(`${result.matched} job${result.matched === 1 ? "" : "s"} match (${what}); dry run: nothing cancelled`);
    for (const id of result.sample ?? []) line(`  ${id}`);
    if ((result.sample?.length ?? 0) < result.matched) line(`  … and ${result.matched - (result.sample?.length ?? 0)} more`);
    return;
  }
  line(`${result.matched} job${result.matched === 1 ? "" : "s"} matched (${what}); ${result.cancelled} cancel${result.cancelled === 1 ? "" : "s"} accepted`);
  const record = result.cancellation;
  if (record === null) return;
  const quiesced = record.steps.find((s) => s.name === "quiesce")?.detail;
  if (quiesced !== undefined && quiesced !== null) {
    const schedules = (quiesced["schedules"] as Array<{ name: string }> | undefined) ?? [];
    const queues = (quiesced["queues"] as string[] | undefined) ?? [];
    line(`paused first: ${queues.length === 0 ? "no queue" : `queue ${queues.join(", ")}`}; ${schedules.length === 0 ? "no schedule" : `schedule${schedules.length === 1 ? "" : "s"} ${schedules.map((s) => s.name).join(", ")}`}`);
  }
  line(`bulk cancellation ${record.id} ${status(record.status)}${record.progress === null ? "" : ` (${record.progress.done} of ${record.progress.total} jobs done)`}`);
  if (options.wait !== true) {
    // Follow this record by its id: re-running `cancel --all … --wait` would start a new bulk cancel.
    if (record.status === "in_progress") line(`follow it with: ${followCommand(record.id)}`);
    return;
  }
  await followBulk(ctx, record);
}

/** The command that follows a bulk cancellation already under way, and starts nothing new. */
export function followCommand(cancellationId: string): string {
  return `belay job cancellation ${cancellationId} --follow`;
}

/**
 * `--all --wait` and `job cancellation ID --follow`: the bulk record's progress as its jobs'
 * cancels end, then how each ended (exit 1 if one failed). With `show` false (`--json`), it
 * prints nothing. Answers the record as it ended.
 */
export async function followBulk(ctx: CliContext, initial: CancellationRecord, show = true): Promise<CancellationRecord> {
  let record = initial;
  let shown = record.progress?.done ?? -1;
  while (record.status === "in_progress" || (record.progress !== null && record.progress.done < record.progress.total)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    record = (await ctx.client.getCancellation(record.id)).cancellation;
    if (show && record.progress !== null && record.progress.done !== shown) {
      shown = record.progress.done;
      line(`  ${record.progress.done} of ${record.progress.total} jobs' cancels ended`);
    }
  }
  const byStatus = new Map<string, number>();
  for (let offset = 0; ; offset += 1000) {
    const page = await ctx.client.listCancellations({ parentId: record.id, limit: 1000, offset });
    for (const child of page.items) byStatus.set(child.status, (byStatus.get(child.status) ?? 0) + 1);
    if (page.items.length < 1000) break;
  }
  const counts = [...byStatus.entries()].map(([s, n]) => `${n} ${status(s)}`).join(", ");
  if (show) line(`bulk cancellation ${record.id} ${status(record.status)}: ${counts === "" ? "no job records" : counts}`);
  if ((byStatus.get("failed") ?? 0) > 0 || record.status === "failed") process.exitCode = 1;
  return record;
}
