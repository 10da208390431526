/** `belay job resume ID`: a cancelled, failed or partial job goes back to the queue as a new attempt. */
import type { Command } from "commander";
import { context } from "../config.ts";
import { id } from "../options.ts";
import { line, printJson } from "../output.ts";
import { resolveJobId } from "../resolve-id.ts";

export function registerJobResume(job: Command): void {
  job
    .command("resume")
    .description("resume a cancelled, failed or partial job (succeeded tasks keep their results)")
    .argument("<id>", "job id", id)
    .action(async (idOrPrefix: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      const body = await ctx.client.resumeJob(jobId);
      if (ctx.json) printJson(body);
      else line(`job ${body.job.id} (${body.job.name}) ${body.job.status}, attempt ${body.job.attempt}`);
    });
}
