/**
 * Input schemas of the Belay tools (zod, turned into JSON Schema for `tools/list` by the SDK).
 * The cancel options are the request contract's own (src/core/requests.ts), turned into zod
 * with `z.fromJSONSchema`, with descriptions written for an agent; the limits are the
 * contract's named constants. The server checks every rule of the API (id format, limits,
 * roles, a task graph's validity), so a violation comes back with the API's error code and
 * the API's message.
 */
import { z } from "zod";
import type { JsonSchema } from "../core/json-schema.ts";
import { cancelJobBody, cancelTaskBody, requestLimits } from "../core/requests.ts";
import { jobStatuses } from "../core/states.ts";

/** A field of the contract as an optional zod field, described for an agent. */
function contractField(schema: JsonSchema, description: string): z.ZodOptional<z.ZodType> {
  return z
    .fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0])
    .describe(description)
    .optional();
}

const jobId = z.string().min(1).describe("The job's id (a UUID), as returned by submit_job or list_jobs.");
const dryRunWords = "true: do not cancel; answer what the cancel would do (tasks and runners it would stop and how, compensation tasks it would run) and change nothing. Needs the same role as the cancel.";
const reasonWords = `Why it is cancelled, in a few words; kept in the cancellation record (at most ${requestLimits.reasonChars} characters).`;
const forceWords = "Skip the grace period: kill the running work at once instead of asking it to stop first. Default false.";
const graceWords = "How long running work may take to stop after being signalled, in milliseconds, before it is force-killed. Default: the job's graceMs (10 000 unless the job set it).";
const graceMs = z.number().int().min(0).max(requestLimits.graceMs).describe(graceWords);
const command = z
  .union([z.array(z.string()), z.string()])
  .describe('What to run: an argv array, program first, run without a shell (e.g. ["make", "test"]), or a string run through the shell (e.g. "make test && make dist").');
const stringMap = z.record(z.string(), z.string());
const envMap = z
  .record(z.string(), z.union([z.string(), z.strictObject({ secret: z.string() })]))
  .describe('Extra environment variables of the process: a string, or {"secret": NAME} for a secret defined on the server (never stored, masked as *** in logs).');
const dependency = z.union([
  z.string(),
  z.looseObject({ key: z.string(), onCancel: z.enum(["cascade", "skip"]).optional().describe("If that task is cancelled: cancel this one too (cascade, the default) or run as if it were skipped (skip).") }),
]);

const task = z
  .looseObject({
    key: z.string().describe("Name of the task, unique within the job (referenced by dependsOn and cancel_task)."),
    kind: z.enum(["process", "handler", "remote", "slurm", "template"]).optional().describe('Inferred from command / handler / adapter / script / template when omitted; "slurm" must be given with a command.'),
    script: z.string().optional().describe("slurm tasks: a batch script starting with #! (or give command)."),
    partition: z.string().optional().describe("slurm tasks: the Slurm partition."),
    time: z.string().optional().describe("slurm tasks: Slurm time limit, e.g. 30 or 1:00:00."),
    cpus: z.number().int().min(1).optional().describe("slurm tasks: CPUs per task."),
    memory: z.string().optional().describe("slurm tasks: memory, e.g. 4G."),
    gres: z.string().optional().describe("slurm tasks: generic resources, e.g. gpu:1."),
    sbatchArgs: z.array(z.string()).optional().describe("slurm tasks: extra sbatch options, each --name=value."),
    command: command.optional(),
    shell: z.boolean().optional(),
    cwd: z.string().optional(),
    env: envMap.optional(),
    template: z.string().optional().describe("Name of a task template defined on the server: a fixed command with typed parameters (what a user-role token may run)."),
    params: z.record(z.string(), z.unknown()).optional().describe("With template: its parameters by name, each checked against its type."),
    handler: z.string().optional().describe("Name of a JavaScript handler registered on the server."),
    adapter: z.string().optional().describe("Name of a remote adapter (e.g. http)."),
    input: z.unknown().optional().describe("JSON input of a handler or remote task."),
    dependsOn: z.array(dependency).optional().describe("Keys of the tasks that must succeed before this one starts."),
    retries: z.number().int().min(0).optional(),
    graceMs: graceMs.optional(),
    stallTimeoutMs: z.number().int().nullable().optional().describe("Overrides the job's stallTimeoutMs for this task (null: no watchdog)."),
    runOn: z.enum(["normal", "cancel"]).optional().describe('"cancel": a compensation task, run only after the job is cancelled (to undo external effects).'),
    uses: z.array(z.string()).optional().describe("Resource pools the task holds a slot of while it runs."),
  })
  .describe("One task: its key, what it runs (command, handler or adapter) and what it depends on.");

export const submitJobInput = z.looseObject({
  name: z.string().optional().describe("Display name of the job (1..200 characters). Default: derived from the command."),
  command: command.optional().describe('One-task shorthand: the command of a job with a single process task, e.g. ["sleep", "30"]. Use this or tasks.'),
  shell: z.boolean().optional().describe("With command: run it through the system shell."),
  cwd: z.string().optional().describe("With command: the working directory."),
  env: envMap.optional(),
  handler: z.string().optional().describe("One-task shorthand: a registered handler to run (with input)."),
  adapter: z.string().optional().describe("One-task shorthand: a remote adapter to run (with input)."),
  input: z.unknown().optional().describe("With handler or adapter: its JSON input."),
  tasks: z.array(task).min(1).optional().describe("The job's tasks, a graph through dependsOn. Use this or the one-task shorthand."),
  queue: z.string().optional().describe('Queue name. Default "default".'),
  priority: z.number().int().optional().describe("Higher runs first. Default 0."),
  labels: stringMap.optional().describe("String labels, to find the job again with list_jobs."),
  params: z.unknown().optional().describe("Free JSON parameters, kept with the job."),
  timeoutMs: z.number().int().nullable().optional().describe("Cancel the job automatically if it runs longer than this, in ms."),
  queueTimeoutMs: z.number().int().nullable().optional().describe("Cancel the job automatically if it has not started within this, in ms."),
  stallTimeoutMs: z
    .number()
    .int()
    .nullable()
    .optional()
    .describe("Cancel a running task (reason stalled) that reports no progress, checkpoint or log line for this long, in ms (at least 1000)."),
  graceMs: graceMs.optional(),
  failFast: z.boolean().optional().describe("When a task fails, cancel the job's other running branches. Default false."),
  idempotencyKey: z.string().optional().describe("Submitting again with the same key returns the job created the first time instead of a new one: safe retries."),
});

export const jobIdInput = { jobId };

export const listJobsInput = {
  status: z
    .union([z.enum(jobStatuses), z.array(z.enum(jobStatuses))])
    .optional()
    .describe("Only jobs in this status, or in any of these statuses."),
  queue: z.string().optional().describe("Only jobs of this queue."),
  labels: stringMap.optional().describe("Only jobs having all these labels."),
  owner: z.string().optional().describe("Only jobs submitted by this principal."),
  limit: z.number().int().min(1).max(requestLimits.pageSize).optional().describe(`Page size, 1..${requestLimits.pageSize}. Default ${requestLimits.defaultPageSize}.`),
  cursor: z.string().optional().describe("The nextCursor of the previous page."),
};

export const cancelJobInput = {
  jobId,
  reason: contractField(cancelJobBody.properties.reason, reasonWords),
  force: contractField(cancelJobBody.properties.force, forceWords),
  graceMs: contractField(cancelJobBody.properties.graceMs, graceWords),
  onlyIfPending: contractField(
    cancelJobBody.properties.onlyIfPending,
    "Cancel only if the job has not started yet; a started or finished job is refused with JOB_NOT_PENDING (a started one keeps running).",
  ),
  dryRun: contractField(cancelJobBody.properties.dryRun, dryRunWords),
};

export const cancelTaskInput = {
  jobId,
  taskKey: z.string().min(1).describe("The key of the task to cancel (see the job's tasks in get_job_status)."),
  reason: contractField(cancelTaskBody.properties.reason, reasonWords),
  force: contractField(cancelTaskBody.properties.force, forceWords),
  graceMs: contractField(cancelTaskBody.properties.graceMs, graceWords),
  cascade: contractField(
    cancelTaskBody.properties.cascade,
    "true: also cancel every task that depends on it, directly or not. false: its dependents run as if it had been skipped. Default: each dependency's own onCancel policy (cascade unless the job said otherwise).",
  ),
  dryRun: contractField(cancelTaskBody.properties.dryRun, dryRunWords),
};

// ---- schedules and queues (DESIGN §7) ----------------------------------------------------------

export const scheduleIdInput = {
  schedule: z.string().min(1).max(200).describe("The schedule's id (as list_schedules shows it), or the name of one of the token's own schedules."),
};

export const pauseQueueInput = {
  queue: z.string().min(1).max(200).describe('The queue\'s name, e.g. "default" or a job spec\'s queue.'),
  reason: z.string().max(requestLimits.reasonChars).optional().describe(`Why it is paused, in a few words (at most ${requestLimits.reasonChars} characters); shown with the queue.`),
};
