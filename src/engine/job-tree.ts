/** A job and its descendants, read breadth first through the parent index (DESIGN §7 `job tree`). */
import type { Job } from "../core/model.ts";
import type { Store } from "../store/store.ts";

export interface JobTreeNode {
  job: Job;
  children: JobTreeNode[];
}

export interface JobTree {
  root: JobTreeNode;
  /** Jobs in the tree, the root included (as far as read). */
  count: number;
  /** The tree has more jobs than were read. */
  truncated: boolean;
}

/** Every child of a job, oldest first (the store lists newest first, by pages). */
export async function childrenOf(store: Pick<Store, "listJobs">, jobId: string): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listJobs({ parentJobId: jobId }, { limit: 500, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out.reverse();
}

export async function readJobTree(store: Pick<Store, "listJobs">, root: Job, maxNodes: number): Promise<JobTree> {
  const top: JobTreeNode = { job: root, children: [] };
  let count = 1;
  let truncated = false;
  const queue: JobTreeNode[] = [top];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const child of await childrenOf(store, node.job.id)) {
      if (count >= maxNodes) {
        truncated = true;
        break;
      }
      const childNode: JobTreeNode = { job: child, children: [] };
      node.children.push(childNode);
      queue.push(childNode);
      count += 1;
    }
    if (truncated) break;
  }
  return { root: top, count, truncated };
}
