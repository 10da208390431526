/**
 * `belay job submit FILE` (a job spec in JSON or YAML, by extension; `-` reads stdin) and
 * `belay job submit [--name N] [--queue Q] [--label k=v] [--grace D] [--timeout D] -- CMD…` (a one-process-task job), and
 * `belay job submit --batch FILE.ndjson` (one job spec per line, through POST /jobs/batch).
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { BelayApiError } from "../../client/errors.ts";
import type { JobSpecInput } from "../../client/types.ts";
import type { Job } from "../../core/model.ts";
import { context } from "../config.ts";
import type { CliContext } from "../config.ts";
import { CliError, UsageError } from "../errors.ts";
import { durationMs, label } from "../options.ts";
import { line, notice, printJson } from "../output.ts";

interface SubmitOptions {
  batch?: string;
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
    .option("--batch <file>", `submit many jobs: one JSON spec per line (NDJSON; - for stdin), ${batchSize.toLocaleString("en")} per request, each request all or none`)
    .option("--name <name>", "the job's name")
    .option("--queue <queue>", "the queue to wait in")
    .option("--label <key=value>", "a label (repeatable)", label)
    .option("--grace <duration>", "grace period between a cancel's signal and the kill (1500 = ms, 30s, 5m): the job's graceMs", durationMs)
    .option("--timeout <duration>", "cancel the job if it runs longer than this (30s, 5m, 2h): the job's timeoutMs", durationMs)
    .usage("[options] FILE | [options] -- CMD [ARGS…] | --batch FILE.ndjson")
    .action(async (args: string[], options: SubmitOptions, command: Command) => {
      const ctx = context(command);
      if (options.batch !== undefined) {
        if (args.length > 0) throw new UsageError("--batch takes its specs from its file: give no other file or command");
        await submitBatch(ctx, options.batch, options);
        return;
      }
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

/** Specs per POST /jobs/batch (the most the server takes in one). */
const batchSize = 10_000;

/**
 * Submit every spec of an NDJSON file, `batchSize` per request. Each request is stored all or
 * none; with more than one, what the earlier requests stored stays, and the error says how
 * many lines were submitted before the one refused. `--queue` and `--label` apply to every
 * spec. Progress goes to stderr when the file takes more than one request.
 */
async function submitBatch(ctx: CliContext, file: string, options: SubmitOptions): Promise<void> {
  if (options.name !== undefined) throw new UsageError("--name names one job: it cannot apply to a --batch file");
  const specs = readNdjson(file);
  const results: Array<{ job: Job; created: boolean }> = [];
  for (let start = 0; start < specs.length; start += batchSize) {
    const chunk = specs.slice(start, start + batchSize);
    try {
      const answer = await ctx.client.submitJobs(
        chunk.map(({ spec }) => {
          const merged: JobSpecInput = { ...spec, ...overrides(options) };
          if (options.label !== undefined) merged.labels = { ...(merged.labels ?? {}), ...options.label };
          return merged;
        }),
      );
      results.push(...answer.jobs);
    } catch (error) {
      const index = error instanceof BelayApiError ? error.details?.["index"] : undefined;
      const at = typeof index === "number" ? chunk[index] : undefined;
      if (at === undefined || !(error instanceof BelayApiError)) throw error;
      const stored = start === 0 ? "nothing was stored" : `the first ${start} specs were stored, nothing after them`;
      throw new CliError(error.code, `${file === "-" ? "stdin" : file} line ${at.line}: ${error.message.replace(/^jobs\[\d+\]: /, "")} (${stored})`);
    }
    if (specs.length > batchSize) notice(`submitted ${Math.min(start + batchSize, specs.length)}/${specs.length}`);
  }
  if (ctx.json) {
    printJson({ jobs: results });
    return;
  }
  const created = results.filter((r) => r.created).length;
  const existing = results.length - created;
  line(`submitted ${created} job${created === 1 ? "" : "s"}${existing > 0 ? `; ${existing} already existed (idempotency key)` : ""}`);
}

/** The specs of an NDJSON file, each with its line number (blank lines skipped). */
function readNdjson(file: string): Array<{ spec: JobSpecInput; line: number }> {
  const where = file === "-" ? "stdin" : file;
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new CliError("INVALID_REQUEST", `cannot read ${where}: ${(error as Error).message}`);
  }
  const specs: Array<{ spec: JobSpecInput; line: number }> = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new CliError("INVALID_REQUEST", `${where} line ${i + 1} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new CliError("INVALID_REQUEST", `${where} line ${i + 1}: a job spec must be an object (with tasks, or command)`);
    }
    specs.push({ spec: value as JobSpecInput, line: i + 1 });
  });
  if (specs.length === 0) throw new CliError("INVALID_REQUEST", `${where} holds no job spec (one JSON object per line)`);
  return specs;
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

export async function loadFile(file: string): Promise<JobSpecInput> {
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
