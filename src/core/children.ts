/**
 * The pure rules of child jobs (DESIGN §7): whether a job may get a child now, and how deep a
 * tree may grow. The stores call `assertParentAccepts` inside the child's insert transaction,
 * with the ancestors read (PostgreSQL: locked) in that transaction, so the answer cannot be
 * overtaken by a cancel: a cancel accepted before the insert is seen, one accepted after it
 * finds the child.
 */
import { BelayError } from "./errors.ts";
import type { Job, OnParentCancel } from "./model.ts";
import type { JobStatus } from "./states.ts";

/** The default depth limit of a tree: a root is depth 0, its children depth 1, … */
export const defaultMaxChildDepth = 8;

/** One job on the path from a new child's parent up to its root, as the store read it. */
export interface AncestorRow {
  id: string;
  status: JobStatus;
  onParentCancel: OnParentCancel;
  parentJobId: string | null;
  depth: number;
}

/** Whether a job's cancel was accepted: from then on no child may be created under it. */
function cancelAccepted(status: JobStatus): boolean {
  return status === "cancelling" || status === "cancelled";
}

/**
 * Refuse the child (`JOB_CANCELLING`) when its parent, or any ancestor whose cancel would
 * reach the parent, has had a cancel accepted. `chain` is the parent first, then its parent,
 * …; the walk stops at a detached link, whose cancel does not reach below it.
 */
export function assertParentAccepts(child: Pick<Job, "id" | "parentJobId">, chain: readonly AncestorRow[]): void {
  const parent = chain[0];
  if (parent === undefined || parent.id !== child.parentJobId) {
    throw new BelayError("JOB_NOT_FOUND", `parent job ${child.parentJobId ?? ""} not found`, { details: { jobId: child.parentJobId } });
  }
  for (const ancestor of chain) {
    if (cancelAccepted(ancestor.status)) {
      throw new BelayError(
        "JOB_CANCELLING",
        ancestor.id === parent.id
          ? `job ${parent.id} is being cancelled (${parent.status}): no child job can be created under it`
          : `job ${parent.id} is in the tree of job ${ancestor.id}, which is being cancelled (${ancestor.status}): no child job can be created under it`,
        { details: { jobId: parent.id, cancellingJobId: ancestor.id, status: ancestor.status } },
      );
    }
    // A detached job leaves its parent's tree: a cancel above it does not reach it.
    if (ancestor.onParentCancel === "detach") break;
  }
}

/** A child one level below `parentDepth` must stay within `maxDepth` (DESIGN §7: a clear 400). */
export function assertChildDepth(parentJobId: string, parentDepth: number, maxDepth: number): void {
  if (parentDepth + 1 > maxDepth) {
    throw new BelayError("INVALID_REQUEST", `job ${parentJobId} is at depth ${parentDepth} of its tree; a child would exceed the depth limit of ${maxDepth}`, {
      details: { field: "parentJobId", parentJobId, depth: parentDepth + 1, limit: maxDepth },
    });
  }
}
