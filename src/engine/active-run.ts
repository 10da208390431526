import type { JobDraft } from "../core/draft.ts";
/** One task attempt started on this node, from its claim to the stored end of the attempt. */
import type { AttemptEndResult } from "../core/lifecycle.ts";
import type { TaskKind } from "../core/model.ts";
import type { RunningTask } from "../runners/types.ts";

export interface ActiveRun {
  jobId: string;
  key: string;
  attempt: number;
  kind: TaskKind;
  /** The runner, once it has started; null before. */
  running: RunningTask | null;
  /** True once the cancel signal was sent: an exit after it counts as `cancelled` (DESIGN §3). */
  signalSent: boolean;
  signalledAt: string | null;
  acknowledgedAt: string | null;
  /** True once the kill was sent (at most once: see `StopPolicy.kill`). */
  forced: boolean;
  /** A stop was asked for before the runner had started: deliver it as soon as it starts. */
  stopWhenStarted: "signal" | "kill" | null;
  /** The node is shutting down under this run (not a cancel). */
  interrupted: boolean;
  /** Resolves once the end of the attempt is stored (never rejects). */
  done: Promise<AttemptEndResult | null>;
  /** Serialises this run's writes (progress, checkpoints, the end) in the order they happened. */
  chain: Promise<unknown>;
  /** Writes queued behind the one in flight: the next transaction applies them all, in order. */
  queuedWrites: Array<{ mutator: (draft: JobDraft) => unknown; resolve: (value: unknown) => void }>;
  workDir: string | null;
  /** Whether the runner has a row in the store (see `Runs.launch`). */
  recorded: boolean;
}
