/**
 * Submit-time checks that need this node's configuration: every handler, adapter and pool a
 * spec names must exist, so a typo is refused whole at submit instead of failing later.
 *
 * With a shared store the task may run on another node (an API-only server submits what only
 * workers can run), so only what this node is configured with is checked: the handler names
 * if it loads a handlers module, the adapters if it has any.
 */
import { invalid, isBelayError } from "../core/errors.ts";
import type { JobSpec, TaskKind } from "../core/model.ts";
import type { HandlerRunner } from "../runners/handler.ts";
import type { RemoteRunner } from "../runners/remote.ts";
import type { SlurmRunner } from "../runners/slurm.ts";
import type { Runner } from "../runners/types.ts";

export interface NodeRunners {
  process?: Runner;
  handler?: HandlerRunner;
  remote?: RemoteRunner;
  slurm?: SlurmRunner;
  /** Runs `job` tasks (a child job each); every engine has it. */
  job?: Runner;
  /** Names of the remote adapters configured for `remote`. */
  adapterNames?: ReadonlySet<string>;
}

export async function validateRunnable(spec: JobSpec, runners: NodeRunners, pools: Record<string, number>, shared = false): Promise<void> {
  const handlerNames = spec.tasks.some((t) => t.kind === "handler") && runners.handler !== undefined ? new Set(await runners.handler.listHandlerNames()) : null;
  const childChecks: Array<Promise<void>> = [];
  spec.tasks.forEach((task, i) => {
    const kind: TaskKind = task.kind;
    if (runners[kind] === undefined && !shared) {
      throw invalid(`tasks[${i}]: this server runs no ${kind} tasks${kind === "handler" ? " (start it with a handlers module)" : kind === "slurm" ? " (start it with --slurm)" : ""}`, { field: `tasks[${i}].kind` });
    }
    if (task.handler !== undefined && handlerNames !== null && !handlerNames.has(task.handler.handler)) {
      throw invalid(`tasks[${i}].handler: unknown handler "${task.handler.handler}"; known: ${[...handlerNames].join(", ") || "none"}`, {
        field: `tasks[${i}].handler`,
      });
    }
    const checkAdapters = runners.adapterNames !== undefined && (!shared || runners.adapterNames.size > 0);
    if (task.remote !== undefined && checkAdapters && !runners.adapterNames?.has(task.remote.adapter)) {
      throw invalid(`tasks[${i}].adapter: unknown remote adapter "${task.remote.adapter}"`, { field: `tasks[${i}].adapter` });
    }
    // A `job` task's child runs here or elsewhere in the cluster like any job: its tasks are checked the same way.
    if (task.job !== undefined) {
      childChecks.push(
        validateRunnable(task.job, runners, pools, shared).catch((error: unknown) => {
          if (!isBelayError(error)) throw error;
          const inner = typeof error.details?.["field"] === "string" ? (error.details["field"] as string) : "";
          const field = `tasks[${i}].job${inner === "" ? "" : `.${inner}`}`;
          throw invalid(`tasks[${i}].job.${error.message}`, { ...error.details, field });
        }),
      );
    }
    task.uses.forEach((pool, j) => {
      if (pools[pool] === undefined && !shared) {
        throw invalid(`tasks[${i}].uses[${j}]: unknown resource pool "${pool}"; configured: ${Object.keys(pools).join(", ") || "none"}`, {
          field: `tasks[${i}].uses[${j}]`,
        });
      }
    });
  });
  await Promise.all(childChecks);
}
