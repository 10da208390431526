/** The options of `belay job cancel`, in a file of their own: the one-job and the bulk paths both read them. */
import type { JobStatus } from "../../core/states.ts";

export interface CancelOptions {
  reason?: string;
  force?: boolean;
  grace?: number;
  task?: string;
  cascade: boolean;
  onlyIfPending?: boolean;
  /** Unset: follow a single cancel (the default), not a bulk one. */
  wait?: boolean;
  all?: boolean;
  status?: JobStatus[];
  queue?: string;
  label?: Record<string, string>;
  dryRun?: boolean;
  /** With --all: pause the queue and schedules the filter names first (DESIGN §7). */
  quiesce?: boolean;
  /** With --all: only jobs made by this schedule. */
  schedule?: string;
}
