/**
 * Waiting for task attempts that run on other nodes to end: checked against the store on
 * each of the job's task events (which reach this node through the event feed) and on a
 * timer, in case the events are late.
 */
import type { Store } from "../../store/store.ts";
import type { EventBus } from "../event-bus.ts";

export interface AttemptRef {
  key: string;
  attempt: number;
}

export type WaitForAttempts = (jobId: string, refs: readonly AttemptRef[], timeoutMs: number) => Promise<boolean>;

export function attemptWatcher(deps: { store: Store; bus: EventBus; pollIntervalMs: number }): WaitForAttempts {
  return (jobId, refs, timeoutMs) => {
    if (refs.length === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let finished = false;
      let checking = false;
      let again = false;
      const finish = (ended: boolean): void => {
        if (finished) return;
        finished = true;
        unsubscribe();
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(ended);
      };
      const check = (): void => {
        if (finished) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        deps.store
          .getJob(jobId)
          .then((job) => {
            const ended = refs.every((ref) => {
              const task = job?.tasks.find((t) => t.key === ref.key);
              return task === undefined || task.attempt !== ref.attempt || (task.status !== "running" && task.status !== "cancelling");
            });
            if (ended) finish(true);
          }, () => undefined)
          .finally(() => {
            checking = false;
            if (again) {
              again = false;
              check();
            }
          });
      };
      const unsubscribe = deps.bus.on("*", (event) => {
        if (event.subject === jobId && event.type.startsWith("belay.task.")) check();
      });
      const poll = setInterval(check, deps.pollIntervalMs);
      const deadline = setTimeout(() => finish(false), timeoutMs);
      poll.unref();
      deadline.unref();
      check();
    });
  };
}
