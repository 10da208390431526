/** `belay job show ID`: a job, its tasks and its latest cancellation. */
import type { Command } from "commander";
import type { Job } from "../../core/model.ts";
import { context } from "../config.ts";
import { between, duration, fields, labels, percent, table, time } from "../format.ts";
import { id } from "../options.ts";
import { line, printJson } from "../output.ts";
import { status } from "../style.ts";
import { resolveJobId } from "../resolve-id.ts";

export function renderJob(job: Job): string {
  const progress = `${percent(job.progress.ratio)}${job.progress.message === null ? "" : ` ${job.progress.message}`}`;
  const summary = fields([
    ["job", job.id],
    ["name", job.name],
    ["status", status(job.status)],
    ["progress", progress],
    ["queue", `${job.queue} (priority ${job.priority})`],
    ["owner", job.owner],
    ["labels", labels(job.labels)],
    ["attempt", String(job.attempt)],
    ["created", time(job.createdAt)],
    ["started", time(job.startedAt)],
    ["finished", job.finishedAt === null ? "-" : `${time(job.finishedAt)} (${duration(between(job.startedAt ?? job.createdAt, job.finishedAt))})`],
    [
      "cancellation",
      job.cancellation === null
        ? "-"
        : `${job.cancellation.id} ${status(job.cancellation.status)} (${job.cancellation.scope}${job.cancellation.taskKey === null ? "" : ` ${job.cancellation.taskKey}`}, by ${job.cancellation.requestedBy}${job.cancellation.reason === null ? "" : `: "${job.cancellation.reason}"`})`,
    ],
  ]);
  const tasks = table(
    ["TASK", "KIND", "STATUS", "ATTEMPT", "EXIT", "DURATION", "DEPENDS ON", "ERROR"],
    job.tasks.map((t) => [
      t.runOn === "cancel" ? `${t.key} (on cancel)` : t.key,
      t.kind,
      status(t.status),
      String(t.attempt),
      t.exitCode === null ? "-" : String(t.exitCode),
      duration(between(t.startedAt, t.finishedAt)),
      t.dependsOn.length === 0 ? "-" : t.dependsOn.map((d) => (d.onCancel === "skip" ? `${d.key}(skip)` : d.key)).join(","),
      t.error ?? "",
    ]),
  );
  return `${summary}\n\n${tasks}`;
}

export function registerJobShow(job: Command): void {
  job
    .command("show")
    .description("show a job with its tasks and latest cancellation")
    .argument("<id>", "job id", id)
    .action(async (idOrPrefix: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      const body = await ctx.client.getJob(jobId);
      if (ctx.json) printJson(body);
      else line(renderJob(body.job));
    });
}
