/**
 * `belay job submit FILE` (a job spec in JSON or YAML, by extension; `-` reads stdin) and
 * `belay job submit [--name N] [--queue Q] [--label k=v] [--grace D] [--timeout D] -- CMD…` (a one-process-task job).
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import type { JobSpecInput } from "../../client/types.ts";
import { context } from "../config.ts";
import { CliError, UsageError } from "../errors.ts";
import { durationMs, label } from "../options.ts";
import { line, printJson } from "../output.ts";

interface SubmitOptions {
  name?: string;
  queue?: string;
  label?: Record<string, string>;
  grace?: number;
  timeout?: number;
}

export function registerJobSubmit(job: Command): void {
  job
    .command("submit")
    .description("submit a job: a spec file (JSON or YAML; - for stdin), or a command after --")
    .argument("[file-or-command...]", "FILE, or -- CMD ARGS… for a one-task job")
    .option("--name <name>", "the job's name")
    .option("--queue <queue>", "the queue to wait in")
    .option("--label <key=value>", "a label (repeatable)", label)
    .option("--grace <duration>", "grace period between a cancel's signal and the kill (1500 = ms, 30s, 5m): the job's graceMs", durationMs)
    .option("--timeout <duration>", "cancel the job if it runs longer than this (30s, 5m, 2h): the job's timeoutMs", durationMs)
    .usage("[options] FILE | [options] -- CMD [ARGS…]")
    .action(async (args: string[], options: SubmitOptions, command: Command) => {
      const ctx = context(command);
      const spec = { ...(await readSpec(args)), ...overrides(options) };
      if (options.label !== undefined) spec.labels = { ...(spec.labels ?? {}), ...options.label };
      const { job: submitted } = await ctx.client.submitJob(spec);
      if (ctx.json) {
        printJson({ job: submitted });
        return;
      }
      line(`submitted job ${submitted.id} (${submitted.name}): ${submitted.status}, ${submitted.tasks.length} task${submitted.tasks.length === 1 ? "" : "s"}, queue ${submitted.queue}`);
    });
}

function overrides(options: SubmitOptions): JobSpecInput {
  return {
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.grace === undefined ? {} : { graceMs: options.grace }),
    ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
  };
}

/** The spec from a file, or from the words after `--` (commander drops the `--` itself, so it is looked for in argv). */
async function readSpec(args: string[]): Promise<JobSpecInput> {
  const dash = process.argv.indexOf("--");
  const commandWords = dash < 0 ? [] : process.argv.slice(dash + 1);
  const files = args.slice(0, args.length - commandWords.length);
  if (commandWords.length > 0) {
    if (files.length > 0) throw new UsageError("give a job file or a command after --, not both");
    // One word with spaces ("make all && make test") runs through the shell, as a string command does.
    const only = commandWords[0];
    return { command: commandWords.length === 1 && only !== undefined && /\s/.test(only) ? only : commandWords };
  }
  if (files.length === 0) throw new UsageError("give a job file (JSON or YAML, - for stdin) or a command after --");
  if (files.length > 1) throw new UsageError(`one job file at a time (got ${files.join(" ")}); to run a command, put it after --`);
  return loadFile(files[0] ?? "-");
}

async function loadFile(file: string): Promise<JobSpecInput> {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new CliError("INVALID_REQUEST", `cannot read ${file === "-" ? "stdin" : file}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    // yaml is loaded only when needed: it is most of the CLI's start-up time.
    value = extname(file).toLowerCase() === ".json" ? JSON.parse(text) : (await import("yaml")).parse(text);
  } catch (error) {
    throw new CliError("INVALID_REQUEST", `${file === "-" ? "stdin" : file} is not valid ${extname(file).toLowerCase() === ".json" ? "JSON" : "YAML or JSON"}: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError("INVALID_REQUEST", `${file === "-" ? "stdin" : file}: a job spec must be an object (with tasks, or command)`);
  }
  return value as JobSpecInput;
}
