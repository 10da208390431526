/** The options of `belay job cancel`, in a file of their own: the one-job and the bulk paths both read them. */
import type { JobStatus } from "../../core/states.ts";

export interface CancelOptions {
  reason?: string;
  force?: boolean;
  grace?: number;
  task?: string;
  cascade: boolean;
  onlyIfPending?: boolean;
  wait: boolean;
  all?: boolean;
  status?: JobStatus[];
  queue?: string;
  label?: Record<string, string>;
  dryRun?: boolean;
}
