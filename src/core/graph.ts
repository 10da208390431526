/**
 * Graph algorithms over a job's tasks (pure).
 *
 * Terminology: task `a` *depends on* task `b` when `b` is listed in `a.dependsOn`; `b` is
 * then a *dependency* of `a` and `a` a *dependent* of `b`. Every function here takes the
 * tasks in their spec order and is deterministic: ties are always broken by that order.
 *
 * The functions expect unique keys and dependencies that name tasks of the list (what
 * `parseJobSpec` guarantees); otherwise they throw `BelayError("INVALID_REQUEST")`
 * naming the offending field.
 */
import { invalid } from "./errors.ts";
import type { CancelPolicy, TaskSpec } from "./model.ts";

/** The part of a task the graph functions read; any `TaskSpec` is one. */
export type GraphTask = Pick<TaskSpec, "key" | "dependsOn">;

/** One dependency edge: `from` depends on `to`, with the edge's cancel policy. */
export interface DependencyEdge {
  /** The dependent task's key. */
  from: string;
  /** The dependency's key. */
  to: string;
  onCancel: CancelPolicy;
}

/** Every edge of the graph, in spec order (tasks, then each task's `dependsOn`). */
export function dependencyEdges(tasks: readonly GraphTask[]): DependencyEdge[] {
  const edges: DependencyEdge[] = [];
  for (const task of tasks) {
    for (const dep of task.dependsOn) edges.push({ from: task.key, to: dep.key, onCancel: dep.onCancel });
  }
  return edges;
}

/** Maps each key to its index; throws on a duplicate key. */
function indexByKey(tasks: readonly GraphTask[]): Map<string, number> {
  const index = new Map<string, number>();
  tasks.forEach((task, i) => {
    const first = index.get(task.key);
    if (first !== undefined) {
      throw invalid(`tasks[${i}].key: duplicate key "${task.key}" (also tasks[${first}].key)`, {
        field: `tasks[${i}].key`,
        duplicateOf: `tasks[${first}].key`,
      });
    }
    index.set(task.key, i);
  });
  return index;
}

/** For each task, the indexes of its dependencies; throws on a dependency on an unknown key. */
function dependencyIndexes(tasks: readonly GraphTask[], index: Map<string, number>): number[][] {
  return tasks.map((task, i) =>
    task.dependsOn.map((dep, j) => {
      const target = index.get(dep.key);
      if (target === undefined) {
        const field = `tasks[${i}].dependsOn[${j}]`;
        throw invalid(`${field}: unknown task "${dep.key}"`, { field, key: dep.key });
      }
      return target;
    }),
  );
}

type Walk = { order: string[]; cycle: null } | { order: null; cycle: string[] };

/**
 * Depth-first walk along `dependsOn` edges, roots in spec order. Yields either a
 * topological order (post-order: every task after all its dependencies) or the first cycle
 * met. Iterative, so a long chain cannot overflow the call stack.
 */
function walk(tasks: readonly GraphTask[]): Walk {
  const deps = dependencyIndexes(tasks, indexByKey(tasks));
  const WHITE = 0;
  const GREY = 1; // on the current path
  const BLACK = 2; // finished
  const colour = new Uint8Array(tasks.length);
  const order: string[] = [];
  // The current path: task indexes and, for each, how many of its dependencies were visited.
  const path: number[] = [];
  const next: number[] = [];
  for (let root = 0; root < tasks.length; root++) {
    if (colour[root] !== WHITE) continue;
    path.push(root);
    next.push(0);
    colour[root] = GREY;
    while (path.length > 0) {
      const top = path.length - 1;
      const node = path[top]!;
      const nodeDeps = deps[node]!;
      const at = next[top]!;
      if (at < nodeDeps.length) {
        next[top] = at + 1;
        const dep = nodeDeps[at]!;
        if (colour[dep] === GREY) {
          const from = path.indexOf(dep);
          const cycle = path.slice(from).map((i) => tasks[i]!.key);
          cycle.push(tasks[dep]!.key);
          return { order: null, cycle };
        }
        if (colour[dep] === WHITE) {
          colour[dep] = GREY;
          path.push(dep);
          next.push(0);
        }
      } else {
        colour[node] = BLACK;
        order.push(tasks[node]!.key);
        path.pop();
        next.pop();
      }
    }
  }
  return { order, cycle: null };
}

/**
 * The first dependency cycle in spec order, as a path of keys that starts and ends with the
 * same key, each task depending on the next (`["a", "b", "a"]`: a depends on b, b on a);
 * null when the graph is acyclic.
 */
export function findCycle(tasks: readonly GraphTask[]): string[] | null {
  return walk(tasks).cycle;
}

/**
 * Task keys ordered so that every task comes after all of its dependencies; among
 * otherwise unordered tasks, spec order decides. Throws `INVALID_REQUEST` (field `tasks`,
 * `details.cycle`) if the graph has a cycle.
 */
export function topologicalOrder(tasks: readonly GraphTask[]): string[] {
  const result = walk(tasks);
  if (result.order === null) {
    throw invalid(`tasks: dependency cycle ${result.cycle.join(" → ")}`, { field: "tasks", cycle: result.cycle });
  }
  return result.order;
}

/**
 * Keys of the tasks that depend on `key`, directly or transitively, in spec order, without
 * `key` itself. The walk crosses only the edges for which `policy(edge)` is true (default:
 * every edge), so `(e) => e.onCancel === "cascade"` gives the tasks a cancel of `key`
 * cascades to. An unknown `key` has no dependents.
 */
export function transitiveDependents(
  tasks: readonly GraphTask[],
  key: string,
  policy: (edge: DependencyEdge) => boolean = () => true,
): string[] {
  indexByKey(tasks);
  const dependents = new Map<string, DependencyEdge[]>();
  for (const edge of dependencyEdges(tasks)) {
    const list = dependents.get(edge.to);
    if (list === undefined) dependents.set(edge.to, [edge]);
    else list.push(edge);
  }
  const reached = new Set<string>([key]);
  const queue = [key];
  for (let i = 0; i < queue.length; i++) {
    for (const edge of dependents.get(queue[i]!) ?? []) {
      if (reached.has(edge.from) || !policy(edge)) continue;
      reached.add(edge.from);
      queue.push(edge.from);
    }
  }
  return tasks.filter((task) => task.key !== key && reached.has(task.key)).map((task) => task.key);
}
