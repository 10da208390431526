/**
 * The Belay tools of DESIGN §5 (MCP), `get_job_tree` and three of §7 (schedules and queues). Each is one call of the typed HTTP client, so a
 * tool does exactly what the HTTP API does for the same token: same roles, same
 * validation, same error codes. The descriptions are written for the agent that reads
 * them in `tools/list`.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { BelayClient } from "../client/client.ts";
import type { CancellationRecord, Job } from "../core/model.ts";
import type { CancelJobRequest, CancelTaskRequest } from "../core/requests.ts";
import type { JobSpecInput } from "../core/spec.ts";
import type { JobTreeNode } from "../client/types.ts";
import { isTerminalJob, isTerminalTask } from "../core/states.ts";
import { runTool } from "./results.ts";
import { cancelJobInput, cancelTaskInput, jobIdInput, listJobsInput, pauseQueueInput, scheduleIdInput, submitJobInput } from "./schemas.ts";

export const toolNames = [
  "submit_job",
  "get_job_status",
  "list_jobs",
  "cancel_job",
  "cancel_task",
  "get_cancellation_status",
  "get_job_tree",
  "list_schedules",
  "pause_schedule",
  "pause_queue",
] as const;

const jobStatuses =
  "Job statuses: queued (waiting to start), running, cancelling (a cancel was accepted and its work is being stopped) are not final; " +
  "succeeded, failed, partial (ended, but not every task succeeded) and cancelled are terminal and never change again.";

const errors = "Errors come back as a tool error whose text starts with the code, e.g. FORBIDDEN: …";

const descriptions = {
  submit_job:
    "Submit a job to Belay and return at once with its jobId and first status (usually queued); the job runs in the background. " +
    "Give either the one-task shorthand `command` (an argv array such as [\"make\", \"test\"], or a shell string) or `tasks`, " +
    "a list of tasks ({key, command | handler | adapter | template, dependsOn?}) forming a graph. " +
    "A free command needs the operator role by default; a user-role token runs the server's task templates ({key, template: NAME, params: {…}}), handlers and remote tasks. " +
    "Then call get_job_status every few seconds until it says terminal: true. " +
    "Passing an idempotencyKey makes a retried submission return the first job instead of starting a second one. " +
    `Needs a token with the user role or higher. ${errors} (INVALID_REQUEST: the spec is wrong; the message names the field).`,
  get_job_status:
    "Read a job's current status, progress (ratio 0..1 and a message), tasks and latest cancellation. " +
    `${jobStatuses} The answer's terminal field says whether the job is over. ` +
    "Task statuses: pending, running, cancelling, then succeeded, failed, cancelled or skipped. " +
    "Poll this (every few seconds) after submit_job or cancel_job until terminal is true. " +
    `${errors} (JOB_NOT_FOUND: no such job).`,
  list_jobs:
    "List jobs, newest first, as short summaries (jobId, name, status, queue, owner, labels, progress, times); " +
    "filter by status (one or several), queue, labels (all must match) and owner. " +
    "At most limit jobs per call (default 50): when nextCursor is not null, pass it as cursor to get the next page. " +
    `Use get_job_status for one job's tasks and details. ${jobStatuses}`,
  cancel_job:
    "Cancel a job: stop it if it is running, or keep it from ever starting if it is queued. Returns {jobId, status} at once. " +
    "A queued job is cancelled immediately (status cancelled). A running job's cancellation is ASYNCHRONOUS: the answer says cancelling " +
    "while its work is signalled, given a grace period (graceMs, default 10 s) to stop, then force-killed; " +
    "keep calling get_job_status until terminal is true (normally with status cancelled; succeeded, failed or partial if the work finished before the cancel took effect). " +
    "Repeating the call is safe: it returns the same cancellation (alreadyCancelled: true once done); force: true on a cancelling job skips the rest of its grace period. " +
    "get_cancellation_status shows what the cancellation did, step by step. " +
    "dryRun: true cancels nothing: it answers {dryRun, preview} with the tasks and runners the cancel would stop (signal or kill, grace), the compensation tasks it would run and whether it would end at once. " +
    "Needs the operator role, or the user role for the token's own jobs. " +
    `${errors}: JOB_NOT_FOUND (no such job), JOB_ALREADY_FINISHED (it had already ended; nothing to cancel), ` +
    "JOB_NOT_PENDING (onlyIfPending was set and the job has started or finished; details.status says which), FORBIDDEN (the token's role may not cancel this job).",
  cancel_task:
    "Cancel one task of a job (by its key) while the rest of the job goes on. A pending task is cancelled at once; a running one is stopped " +
    "asynchronously like a job (signal, grace period, force-kill): poll get_job_status until the task's status is final. " +
    "By default the tasks that depend on it are cancelled too (cascade); cascade: false lets them run as if it had been skipped. " +
    "Returns the job's status, the task's status and the tasks the cancel affected. dryRun: true previews the cancel ({dryRun, preview}) and changes nothing. " +
    "Needs the operator role, or the user role for the token's own jobs. " +
    `${errors}: JOB_NOT_FOUND, TASK_NOT_FOUND (no task with that key), TASK_ALREADY_FINISHED (it had already ended), JOB_ALREADY_FINISHED, FORBIDDEN.`,
  get_cancellation_status:
    "Read the record of a job's latest cancellation: who asked and why, its status and the steps it took, in order, each with its status and times " +
    "(block_dispatch, cancel_pending_tasks, signal_runners, await_runners, force_kill, cleanup, compensate, finalize), " +
    "the tasks it stopped and how (gracefully or forced). " +
    "Cancellation statuses: in_progress (still running: call again later), completed, partial (stopped, but cleanup failed), failed, " +
    "too_late (every task had already finished). The answer's done field is false while in_progress. " +
    `${errors}: JOB_NOT_FOUND, NOT_FOUND (the job was never cancelled).`,
  get_job_tree:
    "Read a job's tree of child jobs: jobs started by the job's handlers (ctx.submitChild) or by its tasks of kind job, their children, and so on. " +
    "Returns {jobId, status, terminal, count, truncated, tree}: tree is {jobId, name, status, terminal, parentTaskKey, onParentCancel, children: [...]}, children in creation order. " +
    "Cancelling a job (cancel_job) cancels its whole tree except children with onParentCancel detach; the tree is over when every node is terminal. " +
    `${jobStatuses} ${errors} (JOB_NOT_FOUND: no such job).`,
  list_schedules:
    "List the schedules: each submits a job spec at every time of its cron expression (read in its time zone). " +
    "For each: scheduleId, name, owner, cron, timeZone, overlap (skip | allow | cancel_previous: what a firing does while an earlier run has not ended), " +
    "paused, nextRunAt (the next firing; null while paused), and how the last firing went (lastRunAt, lastOutcome, lastJobId). " +
    `Any token may read them. ${errors}`,
  pause_schedule:
    "Pause a schedule so it makes no new jobs until it is resumed (jobs it already made go on; cancel them with cancel_job). " +
    "Use it when a schedule keeps producing work that should stop. Safe to repeat. " +
    "Needs the user role for the token's own schedules, operator for any. " +
    `${errors}: NOT_FOUND (no such schedule), FORBIDDEN.`,
  pause_queue:
    "Pause a queue: no task of it is started until it is resumed (running tasks go on; queued jobs can still be cancelled). " +
    "Use it to stop a flood of work at its source before cancelling. Safe to repeat. " +
    `Needs the operator role. ${errors}: FORBIDDEN, INVALID_REQUEST.`,
} as const;

/** Register the tools on `server`; every call goes through `client` (which carries the caller's token). */
export function registerBelayTools(server: McpServer, client: BelayClient): void {
  server.registerTool(
    "submit_job",
    { title: "Submit a job", description: descriptions.submit_job, inputSchema: submitJobInput, annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true } },
    (spec) =>
      runTool(async () => {
        const { job } = await client.submitJob(spec as JobSpecInput);
        return { ...jobState(job), job };
      }),
  );

  server.registerTool(
    "get_job_status",
    { title: "Get a job's status", description: descriptions.get_job_status, inputSchema: jobIdInput, annotations: { readOnlyHint: true, openWorldHint: false } },
    ({ jobId }) =>
      runTool(async () => {
        const { job } = await client.getJob(jobId);
        return { ...jobState(job), job };
      }),
  );

  server.registerTool(
    "list_jobs",
    { title: "List jobs", description: descriptions.list_jobs, inputSchema: listJobsInput, annotations: { readOnlyHint: true, openWorldHint: false } },
    (query) =>
      runTool(async () => {
        const page = await client.listJobs(query);
        return { items: page.items.map(jobSummary), nextCursor: page.nextCursor };
      }),
  );

  server.registerTool(
    "cancel_job",
    { title: "Cancel a job", description: descriptions.cancel_job, inputSchema: cancelJobInput, annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false } },
    ({ jobId, ...request }) =>
      runTool(async () => {
        const answer = await client.cancelJob(jobId, request as CancelJobRequest);
        if (answer.cancellation === null) return { ...jobState(answer.job), dryRun: true, preview: answer.preview };
        const { job, cancellation } = answer;
        const alreadyCancelled = "alreadyCancelled" in answer ? answer.alreadyCancelled : undefined;
        const state = jobState(job);
        return {
          ...state,
          alreadyCancelled: alreadyCancelled === true,
          cancellation: cancellationSummary(cancellation),
          ...(state.terminal ? {} : { next: "The cancellation is under way: call get_job_status until terminal is true." }),
        };
      }),
  );

  server.registerTool(
    "cancel_task",
    { title: "Cancel one task", description: descriptions.cancel_task, inputSchema: cancelTaskInput, annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false } },
    ({ jobId, taskKey, ...request }) =>
      runTool(async () => {
        const answer = await client.cancelTask(jobId, taskKey, request as CancelTaskRequest);
        if (answer.cancellation === null) return { ...jobState(answer.job), taskKey, dryRun: true, preview: answer.preview };
        const { job, cancellation } = answer;
        const task = job.tasks.find((t) => t.key === taskKey);
        const taskTerminal = task !== undefined && isTerminalTask(task.status);
        return {
          ...jobState(job),
          taskKey,
          taskStatus: task?.status ?? null,
          taskTerminal,
          affectedTasks: cancellation.affectedTasks,
          cancellation: cancellationSummary(cancellation),
          ...(taskTerminal ? {} : { next: "The task is being stopped: call get_job_status until its status is final." }),
        };
      }),
  );

  server.registerTool(
    "get_cancellation_status",
    { title: "Get a job's cancellation record", description: descriptions.get_cancellation_status, inputSchema: jobIdInput, annotations: { readOnlyHint: true, openWorldHint: false } },
    ({ jobId }) =>
      runTool(async () => {
        const { cancellation } = await client.getJobCancellation(jobId);
        return { jobId, status: cancellation.status, done: cancellation.status !== "in_progress", cancellation };
      }),
  );

  server.registerTool(
    "get_job_tree",
    { title: "Get a job's tree of child jobs", description: descriptions.get_job_tree, inputSchema: jobIdInput, annotations: { readOnlyHint: true, openWorldHint: false } },
    ({ jobId }) =>
      runTool(async () => {
        const { tree, count, truncated } = await client.getJobTree(jobId);
        return { ...jobState(tree.job), count, truncated, tree: treeSummary(tree) };
      }),
  );
  registerScheduleTools(server, client);
}

interface TreeNodeSummary {
  jobId: string;
  name: string;
  status: Job["status"];
  terminal: boolean;
  parentTaskKey: string | null;
  onParentCancel: Job["onParentCancel"];
  children: TreeNodeSummary[];
}

function treeSummary(node: JobTreeNode): TreeNodeSummary {
  return {
    ...jobState(node.job),
    name: node.job.name,
    parentTaskKey: node.job.parentTaskKey,
    onParentCancel: node.job.onParentCancel,
    children: node.children.map(treeSummary),
  };
}

/** Register the schedule and queue tools (DESIGN §7). */
function registerScheduleTools(server: McpServer, client: BelayClient): void {
  server.registerTool(
    "list_schedules",
    { title: "List schedules", description: descriptions.list_schedules, inputSchema: {}, annotations: { readOnlyHint: true, openWorldHint: false } },
    () =>
      runTool(async () => {
        const { items } = await client.listSchedules();
        return {
          items: items.map((s) => ({
            scheduleId: s.id,
            name: s.name,
            owner: s.owner,
            cron: s.cron,
            timeZone: s.timeZone,
            overlap: s.overlap,
            paused: s.paused,
            nextRunAt: s.nextRunAt,
            lastRunAt: s.lastRunAt,
            lastOutcome: s.lastOutcome,
            lastJobId: s.lastJobId,
          })),
        };
      }),
  );

  server.registerTool(
    "pause_schedule",
    { title: "Pause a schedule", description: descriptions.pause_schedule, inputSchema: scheduleIdInput, annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false } },
    ({ schedule }) =>
      runTool(async () => {
        const { schedule: s } = await client.pauseSchedule(schedule);
        return { scheduleId: s.id, name: s.name, paused: s.paused, pausedBy: s.pausedBy, nextRunAt: s.nextRunAt };
      }),
  );

  server.registerTool(
    "pause_queue",
    { title: "Pause a queue", description: descriptions.pause_queue, inputSchema: pauseQueueInput, annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false } },
    ({ queue, reason }) =>
      runTool(async () => {
        const { queue: q } = await client.pauseQueue(queue, reason === undefined ? {} : { reason });
        return { ...q };
      }),
  );
}

function jobState(job: Job): { jobId: string; status: Job["status"]; terminal: boolean } {
  return { jobId: job.id, status: job.status, terminal: isTerminalJob(job.status) };
}

function jobSummary(job: Job): Record<string, unknown> {
  return {
    ...jobState(job),
    name: job.name,
    queue: job.queue,
    owner: job.owner,
    labels: job.labels,
    progress: job.progress,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

function cancellationSummary(record: CancellationRecord): Record<string, unknown> {
  return { id: record.id, status: record.status, scope: record.scope, taskKey: record.taskKey, reason: record.reason, requestedBy: record.requestedBy, force: record.force };
}
