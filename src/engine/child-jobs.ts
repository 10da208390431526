/**
 * What a task may do with child jobs (DESIGN §7), as the runners see it (`ctx.children`): a
 * handler's `ctx.submitChild` / `ctx.waitForChild` and the `job` task's runner. Submitting
 * goes through `Submissions.submitChild` (policy, depth limit, the store's JOB_CANCELLING);
 * cancelling through the cancel requests; waiting reads the store. A task may wait only for
 * its own job's children: a handler cannot read other jobs through it.
 */
import { BelayError } from "../core/errors.ts";
import type { Job, Json } from "../core/model.ts";
import type { ChildJobInfo, ChildJobs } from "../runners/types.ts";
import type { Store } from "../store/store.ts";
import type { CancelRequests } from "./cancel-requests.ts";
import { waitEnded } from "./cancel-tree.ts";
import { childrenOf } from "./job-tree.ts";
import { isTerminalJob } from "../core/states.ts";
import type { EventBus } from "./event-bus.ts";
import type { Submissions } from "./submissions.ts";

export interface ChildJobsDeps {
  submissions: Pick<Submissions, "submitChild">;
  requests: () => CancelRequests;
  store: Pick<Store, "getJob" | "listJobs">;
  bus: EventBus;
  pollIntervalMs: number;
}

export function childInfo(job: Job): ChildJobInfo {
  const outputs: { [key: string]: Json } = {};
  for (const task of job.tasks) if (task.output !== null) outputs[task.key] = task.output;
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    detached: job.onParentCancel === "detach",
    outputs,
    error: job.tasks.find((t) => t.status === "failed")?.error ?? null,
  };
}

export function childJobsOf(deps: ChildJobsDeps, jobId: string, taskKey: string): ChildJobs {
  return {
    submit: async (spec, options = {}) => childInfo((await deps.submissions.submitChild({ jobId, taskKey }, spec, options)).job),
    submitParsed: async (spec, options) => childInfo((await deps.submissions.submitChild({ jobId, taskKey }, null, { ...options, parsed: spec })).job),
    cancel: async (childId, options) => {
      // Only a task being cancelled cancels its child: a shutdown signals runs too, and a
      // node going away must not cancel work another node will pick up (DESIGN §7, §3).
      const parent = await deps.store.getJob(jobId);
      if (parent?.tasks.find((t) => t.key === taskKey)?.status !== "cancelling") return false;
      await deps.requests().cancelChildOfTask(jobId, childId, options);
      return true;
    },
    live: async () => {
      const children = await childrenOf(deps.store, jobId);
      return children.filter((c) => c.parentTaskKey === taskKey && !isTerminalJob(c.status)).map(childInfo);
    },
    ended: async (childId) => {
      const child = await deps.store.getJob(childId);
      if (child === null || child.parentJobId !== jobId) {
        throw new BelayError("JOB_NOT_FOUND", `job ${childId} is not a child of job ${jobId}`, { details: { jobId: childId } });
      }
      return childInfo(await waitEnded(deps, childId));
    },
  };
}
