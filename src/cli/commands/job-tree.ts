/** `belay job tree ID`: a job and its child jobs (DESIGN §7), one line each, indented by depth, with each node's state. */
import type { Command } from "commander";
import type { JobTreeNode, JobTreeResponse } from "../../client/types.ts";
import { context } from "../config.ts";
import { percent } from "../format.ts";
import { id } from "../options.ts";
import { line, printJson } from "../output.ts";
import { status } from "../style.ts";
import { resolveJobId } from "../resolve-id.ts";

function nodeLine(node: JobTreeNode): string {
  const job = node.job;
  const via = job.parentTaskKey === null ? "" : ` via ${job.parentTaskKey}`;
  const detached = job.onParentCancel === "detach" ? " detached" : "";
  const progress = job.status === "running" ? ` ${percent(job.progress.ratio)}` : "";
  return `${job.id}  ${job.name}  ${status(job.status)}${progress}${via}${detached}`;
}

/** The tree as text: children under their parent, drawn with box characters. */
export function renderTree(answer: JobTreeResponse): string {
  const lines: string[] = [nodeLine(answer.tree)];
  const walk = (node: JobTreeNode, prefix: string): void => {
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      lines.push(`${prefix}${last ? "└─ " : "├─ "}${nodeLine(child)}`);
      walk(child, `${prefix}${last ? "   " : "│  "}`);
    });
  };
  walk(answer.tree, "");
  lines.push(`${answer.count} job${answer.count === 1 ? "" : "s"}${answer.truncated ? " (more not shown)" : ""}`);
  return lines.join("\n");
}

export function registerJobTree(job: Command): void {
  job
    .command("tree")
    .description("show a job with its tree of child jobs and each one's state")
    .argument("<id>", "job id (or a unique prefix)", id)
    .action(async (idOrPrefix: string, _options: unknown, command: Command) => {
      const ctx = context(command);
      const jobId = await resolveJobId(ctx.client, idOrPrefix);
      const answer = await ctx.client.getJobTree(jobId);
      if (ctx.json) printJson(answer);
      else line(renderTree(answer));
    });
}
