/**
 * A job's tree of child jobs (DESIGN §7) on its page: every job of the tree with its state,
 * indented under its parent, each a link to its own page. Re-read every 2 s while any job of
 * the tree is still active (a child's changes are not the page's own job's events).
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { belay, isActive } from "../api.ts";
import type { Job, JobTreeNode, JobTreeResponse } from "../api.ts";
import { Badge } from "./Badge.tsx";
import { percent } from "../format.ts";
import { Link } from "../router.tsx";

function anyActive(node: JobTreeNode): boolean {
  return isActive(node.job.status) || node.children.some(anyActive);
}

function TreeNode(props: { node: JobTreeNode; current: string }): JSX.Element {
  const { job } = props.node;
  const here = job.id === props.current;
  return (
    <li data-job={job.id} data-status={job.status}>
      <span class="tree-node">
        {here ? <strong>{job.name}</strong> : <Link href={`/jobs/${job.id}`}>{job.name}</Link>} <Badge status={job.status} small />
        {job.status === "running" ? <span class="small muted"> {percent(job.progress.ratio)}</span> : null}
        {job.parentTaskKey !== null ? <span class="small muted"> · from task {job.parentTaskKey}</span> : null}
        {job.onParentCancel === "detach" ? <span class="small muted"> · detached</span> : null}
      </span>
      {props.node.children.length > 0 ? (
        <ul>
          {props.node.children.map((child) => (
            <TreeNode key={child.job.id} node={child} current={props.current} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

export function JobTreeCard(props: { job: Job }): JSX.Element | null {
  const { job } = props;
  const [tree, setTree] = useState<JobTreeResponse | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    belay.getJobTree(job.id, controller.signal).then(setTree, () => undefined);
    return () => controller.abort();
  }, [job.id, job.status, version]);
  const active = tree !== null && anyActive(tree.tree);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setVersion((v) => v + 1), 2000);
    return () => clearInterval(timer);
  }, [active]);
  if (tree === null || (tree.count === 1 && job.parentJobId === null)) return null;
  return (
    <section aria-labelledby="tree-title" class="card job-tree">
      <h2 id="tree-title">Child jobs</h2>
      {job.parentJobId !== null ? (
        <p class="small">
          Child of <Link href={`/jobs/${job.parentJobId}`}>{job.parentJobId}</Link>
          {job.parentTaskKey !== null ? ` (task ${job.parentTaskKey})` : ""}; {job.onParentCancel === "detach" ? "detached: its parent's cancel does not reach it." : "cancelled with its parent."}
        </p>
      ) : null}
      {tree.count > 1 ? (
        <>
          <p class="small muted">
            {tree.count - 1} descendant{tree.count === 2 ? "" : "s"}
            {tree.truncated ? " (more not shown)" : ""}. Stopping this job stops them all, except detached ones.
          </p>
          <ul class="tree" aria-label="Job tree">
            <TreeNode node={tree.tree} current={job.id} />
          </ul>
        </>
      ) : null}
    </section>
  );
}
