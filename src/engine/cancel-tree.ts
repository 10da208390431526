/**
 * The walk of a tree cancel (DESIGN §7): the `cancel_children` step of a job record whose job
 * had children. Every descendant reached through `onParentCancel: "cancel"` links is
 * cancelled (breadth first, each as a tree member whose record's parent is the root's), a
 * detached one is left running with its subtree, and the walk resolves once every descendant
 * it cancelled has ended.
 *
 * Why it cannot miss a child: the root's cancel was accepted first, and from then on the
 * store refuses any child under any job of the tree (`JOB_CANCELLING`, in the insert's
 * transaction). Each job's children are listed after its own cancel (or the root's) was
 * committed, so the list is complete.
 */
import type { Logger } from "pino";
import { isBelayError } from "../core/errors.ts";
import type { CancellationRecord, DescendantCancel, Job } from "../core/model.ts";
import { isTerminalJob } from "../core/states.ts";
import type { Store } from "../store/store.ts";
import type { CancelResult, TreeOutcome } from "./types.ts";
import type { EventBus } from "./event-bus.ts";
import { childrenOf } from "./job-tree.ts";

export interface CancelTreeDeps {
  store: Pick<Store, "listJobs" | "getJob">;
  bus: EventBus;
  cancelInTree: (jobId: string, root: CancellationRecord, force: boolean) => Promise<CancelResult>;
  /** How often to re-read a descendant that has not ended (its events may come from another node). */
  pollIntervalMs: number;
  logger: Logger;
}

export async function cancelTree(deps: CancelTreeDeps, root: CancellationRecord, escalated: Promise<void>): Promise<TreeOutcome> {
  const rootId = root.jobId;
  if (rootId === null) return { descendants: [], counts: { descendants: 0, cancelled: 0, alreadyEnded: 0, detached: 0 } };
  const found: DescendantCancel[] = [];
  const queue: Array<{ jobId: string; depth: number }> = [{ jobId: rootId, depth: 0 }];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const child of await childrenOf(deps.store, node.jobId)) {
      const entry: DescendantCancel = { jobId: child.id, parentJobId: node.jobId, depth: node.depth + 1, outcome: "already_ended", cancellationId: child.cancellation?.id ?? null, status: child.status };
      found.push(entry);
      if (child.onParentCancel === "detach") {
        entry.outcome = "detached";
        continue;
      }
      if (!isTerminalJob(child.status)) {
        try {
          const result = await deps.cancelInTree(child.id, root, root.force);
          entry.cancellationId = result.cancellation.id;
          entry.outcome = result.alreadyCancelled && result.cancellation.status !== "in_progress" ? "already_ended" : "cancelled";
        } catch (error) {
          // It finished between the listing and its cancel: ended already, like a terminal child.
          if (!isBelayError(error, "JOB_ALREADY_FINISHED")) throw error;
        }
      }
      // An ended child's own children are still in the tree (a handler may have left them running).
      queue.push({ jobId: child.id, depth: node.depth + 1 });
    }
  }

  // A forced repeat of the root's cancel reaches every descendant still being cancelled.
  let settled = false;
  void escalated.then(async () => {
    if (settled || root.force) return;
    for (const entry of found) {
      if (entry.outcome !== "cancelled") continue;
      await deps.cancelInTree(entry.jobId, root, true).catch((error: unknown) => {
        if (!isBelayError(error)) deps.logger.warn({ err: error, jobId: entry.jobId }, "could not escalate a descendant's cancel");
      });
    }
  });
  try {
    await Promise.all(found.filter((e) => e.outcome === "cancelled").map(async (entry) => {
      entry.status = (await waitEnded(deps, entry.jobId)).status;
    }));
  } finally {
    settled = true;
  }
  const count = (outcome: DescendantCancel["outcome"]): number => found.filter((e) => e.outcome === outcome).length;
  return {
    descendants: found,
    counts: { descendants: found.length, cancelled: count("cancelled"), alreadyEnded: count("already_ended"), detached: count("detached") },
  };
}

/** Resolves with the job once it is terminal: woken by its events on this node's bus, re-read every poll (other nodes' events may be late). */
export async function waitEnded(deps: Pick<CancelTreeDeps, "store" | "bus" | "pollIntervalMs">, jobId: string): Promise<Job> {
  for (;;) {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const unsubscribe = deps.bus.on("*", (event) => {
      if (event.subject === jobId && event.type.startsWith("belay.job.")) wake();
    });
    try {
      const job = await deps.store.getJob(jobId);
      if (job === null || isTerminalJob(job.status)) {
        if (job === null) throw new Error(`job ${jobId} not found`);
        return job;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, deps.pollIntervalMs)))]);
      clearTimeout(timer);
    } finally {
      unsubscribe();
    }
  }
}
