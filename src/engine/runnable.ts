/**
 * Submit-time checks that need this node's configuration: every handler, adapter and pool a
 * spec names must exist, so a typo is refused whole at submit instead of failing later.
 */
import { invalid } from "../core/errors.ts";
import type { JobSpec, TaskKind } from "../core/model.ts";
import type { HandlerRunner } from "../runners/handler.ts";
import type { RemoteRunner } from "../runners/remote.ts";
import type { Runner } from "../runners/types.ts";

export interface NodeRunners {
  process?: Runner;
  handler?: HandlerRunner;
  remote?: RemoteRunner;
  /** Names of the remote adapters configured for `remote`. */
  adapterNames?: ReadonlySet<string>;
}

export async function validateRunnable(spec: JobSpec, runners: NodeRunners, pools: Record<string, number>): Promise<void> {
  const handlerNames = spec.tasks.some((t) => t.kind === "handler") && runners.handler !== undefined ? new Set(await runners.handler.listHandlerNames()) : null;
  spec.tasks.forEach((task, i) => {
    const kind: TaskKind = task.kind;
    if (runners[kind] === undefined) {
      throw invalid(`tasks[${i}]: this server runs no ${kind} tasks${kind === "handler" ? " (start it with a handlers module)" : ""}`, { field: `tasks[${i}].kind` });
    }
    if (task.handler !== undefined && handlerNames !== null && !handlerNames.has(task.handler.handler)) {
      throw invalid(`tasks[${i}].handler: unknown handler "${task.handler.handler}"; known: ${[...handlerNames].join(", ") || "none"}`, {
        field: `tasks[${i}].handler`,
      });
    }
    if (task.remote !== undefined && runners.adapterNames !== undefined && !runners.adapterNames.has(task.remote.adapter)) {
      throw invalid(`tasks[${i}].adapter: unknown remote adapter "${task.remote.adapter}"`, { field: `tasks[${i}].adapter` });
    }
    task.uses.forEach((pool, j) => {
      if (pools[pool] === undefined) {
        throw invalid(`tasks[${i}].uses[${j}]: unknown resource pool "${pool}"; configured: ${Object.keys(pools).join(", ") || "none"}`, {
          field: `tasks[${i}].uses[${j}]`,
        });
      }
    });
  });
}
