/** `belay job cancel --all --status S [--queue Q] [--label k=v] [--dry-run]`: bulk cancel by filter (operator role). */
import type { BulkCancelFilter } from "../../client/types.ts";
import type { CliContext } from "../config.ts";
import { UsageError } from "../errors.ts";
import { labels } from "../format.ts";
import { line, printJson } from "../output.ts";
import type { CancelOptions } from "./job-cancel-options.ts";

export async function cancelBulk(ctx: CliContext, options: CancelOptions): Promise<void> {
  // --status is required so that a slip of the keyboard never cancels every job.
  if (options.status === undefined || options.status.length === 0) throw new UsageError("--all needs --status (e.g. --status queued,running)");
  const filter: BulkCancelFilter = {
    status: options.status,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.label === undefined ? {} : { labels: options.label }),
  };
  const result = await ctx.client.cancelJobs({
    filter,
    ...(options.dryRun === true ? { dryRun: true } : {}),
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
  if (record !== null) {
    line(`bulk cancellation ${record.id} ${record.status}${record.progress === null ? "" : ` (${record.progress.done} of ${record.progress.total} jobs done)`}`);
    line(`follow it with: belay job cancellations --status in_progress`);
  }
}
