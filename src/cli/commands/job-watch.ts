/**
 * `belay job watch ID`: the job's events live (tasks starting, progress, ends, cancellation
 * steps) until the job is terminal. The stream is opened before the job is read, so nothing
 * between the two is missed; the job is re-read every 2 s in case the stream stalls.
 */
import type { Command } from "commander";
import { isTerminalStatus } from "../../client/client.ts";
import { BelayApiError } from "../../client/errors.ts";
import type { EventStream } from "../../client/events.ts";
import { wake } from "../../client/wake.ts";
import type { BelayEvent, Job, Json } from "../../core/model.ts";
import { context } from "../config.ts";
import { between, clock, detail, duration, percent } from "../format.ts";
import { id } from "../options.ts";
import { exitCodes, jobExitCodes } from "../errors.ts";
import { line, printJsonLine } from "../output.ts";
import { tasksDone } from "./job-list.ts";
import { resolveJobId } from "../resolve-id.ts";

export function describeEvent(event: BelayEvent): string {
  const d = event.data;
  const type = event.type.replace(/^belay\./, "");
  const task = d.taskKey ?? "";
  let text: string;
  switch (event.type) {
    case "belay.task.progress":
      text = `${percent(typeof d["ratio"] === "number" ? d["ratio"] : null)}${typeof d["message"] === "string" ? ` ${d["message"]}` : ""}`;
      break;
    case "belay.cancellation.step":
      text = `${String(d["step"])} ${String(d["status"])}${d["finishedAt"] === null ? "" : ` ${duration(between(d["startedAt"] as string | null, d["finishedAt"] as string | null))}`} ${detail(d["detail"] as Record<string, Json> | null)}`;
      break;
    default: {
      const { jobId: _jobId, taskKey: _taskKey, from: _from, ...rest } = d;
      text = detail(rest);
    }
  }
  return `${clock(event.time)}  ${type.padEnd(20)}  ${task.padEnd(12)}  ${text}`.trimEnd();
}

function summary(job: Job): string {
  return `job ${job.id} (${job.name}) ${job.status}: ${tasksDone(job)} tasks succeeded${job.finishedAt === null ? "" : `, ${duration(between(job.startedAt ?? job.createdAt, job.finishedAt))}`}`;
}

export function registerJobWatch(job: Command): void {
  job
    .command("watch")
    .description("follow a job's events live until it ends")
    .argument("<id>", "job id", id)
    .option("--exit-status", `exit with the job's final status: ${Object.entries(jobExitCodes).map(([s, c]) => `${c} ${s}`).join(", ")}`)
    .action(async (idOrPrefix: string, options: { exitStatus?: boolean }, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      let stream: EventStream | null = null;
      try {
        stream = await ctx.client.connectEvents({ jobId });
      } catch (error) {
        if (error instanceof BelayApiError && error.status === 404) throw error;
      }
      let events: AsyncIterator<BelayEvent> | null = stream?.[Symbol.asyncIterator]() ?? null;
      try {
        let current = (await ctx.client.getJob(jobId)).job;
        if (!ctx.json && !isTerminalStatus(current.status)) line(`watching ${summary(current)}`);
        let next: Promise<IteratorResult<BelayEvent>> | null = null;
        while (!isTerminalStatus(current.status)) {
          const woken = await wake(events === null ? null : (next ??= events.next()), events === null ? 500 : 2000);
          if (woken === "ended") events = null;
          if (woken !== "timer") next = null;
          if (typeof woken === "object") {
            if (ctx.json) printJsonLine(woken);
            else line(describeEvent(woken));
            if (!woken.type.startsWith("belay.job.")) continue;
          }
          const previous = current.status;
          current = (await ctx.client.getJob(jobId)).job;
          if (events === null && current.status !== previous && !ctx.json) line(`${clock(new Date().toISOString())}  job status ${current.status}`);
        }
        if (!ctx.json) line(summary(current));
        if (options.exitStatus === true) process.exitCode = jobExitCodes[current.status as keyof typeof jobExitCodes] ?? exitCodes.error;
      } finally {
        stream?.close();
        await events?.return?.();
      }
    });
}
