/**
 * Runs `remote` tasks: a handle on a job of an external service, reached through a named
 * adapter (submit / poll / cancel).
 *
 * - `start` submits; it rejects if the adapter is unknown or the submit fails (nothing started).
 * - The runner then polls every `pollIntervalMs` until the remote job is terminal; progress
 *   the adapter reports is forwarded when it changes.
 * - `signal()` calls the adapter's cancel, bounded by `cancelTimeoutMs`, and records the
 *   result in `remoteCancel`. A cancel that succeeds resolves true and polling goes on
 *   until the remote job reports its end. A cancel that fails or times out resolves false
 *   and ends the task at once (`exited` → failed, "remote cancel failed: …"): the remote
 *   side is out of our hands, and the local cancellation must still complete (DESIGN §3).
 * - `kill()` stops tracking the remote job (one last best-effort cancel is sent if none was).
 */
import type { Json } from "../core/model.ts";
import type {
  ProgressUpdate,
  RemoteCancelResult,
  RunContext,
  Runner,
  RunnerExit,
  RunnerIdentity,
  RunningTask,
} from "./types.ts";

export type RemoteState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface RemoteSubmitContext {
  jobId: string;
  taskKey: string;
  attempt: number;
  params: Json;
  lastCheckpoint: Json | null;
}

export interface RemotePollResult {
  state: RemoteState;
  progress?: ProgressUpdate;
  /** The remote job's result, when `state` is `succeeded`. */
  output?: Json;
  /** Why it failed, when `state` is `failed`. */
  error?: string;
}

/** What a remote service must offer. Every method may throw (or reject) on failure. */
export interface RemoteAdapter {
  submit(input: Json, ctx: RemoteSubmitContext): Promise<{ remoteId: string }>;
  poll(remoteId: string): Promise<RemotePollResult>;
  /** Ask the service to cancel; resolves once it accepted the request, throws if it refused or failed. */
  cancel(remoteId: string): Promise<void>;
}

export interface RemoteRunnerOptions {
  /** Adapters by name, as tasks refer to them (`{kind: "remote", adapter: name}`). */
  adapters?: Record<string, RemoteAdapter>;
  /** Delay between two polls of a remote job. Default 500 ms. */
  pollIntervalMs?: number;
  /** How long `signal()` waits for the adapter's cancel before counting it as failed. Default 5000 ms. */
  cancelTimeoutMs?: number;
  /** Consecutive failed polls after which the task fails ("remote poll failed: …"). Default 10. */
  maxPollFailures?: number;
}

export class RemoteRunner implements Runner {
  readonly #adapters: Map<string, RemoteAdapter>;
  readonly #pollIntervalMs: number;
  readonly #cancelTimeoutMs: number;
  readonly #maxPollFailures: number;
  readonly #running = new Set<RemoteTask>();
  #closed = false;

  constructor(options: RemoteRunnerOptions = {}) {
    this.#adapters = new Map(Object.entries(options.adapters ?? {}));
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#cancelTimeoutMs = options.cancelTimeoutMs ?? 5000;
    this.#maxPollFailures = options.maxPollFailures ?? 10;
  }

  /** Register (or replace) an adapter. */
  registerAdapter(name: string, adapter: RemoteAdapter): void {
    this.#adapters.set(name, adapter);
  }

  /** Names of the registered adapters, sorted, so the engine can validate specs at submit time. */
  listAdapterNames(): string[] {
    return [...this.#adapters.keys()].sort();
  }

  async start(ctx: RunContext): Promise<RunningTask> {
    if (this.#closed) throw new Error("remote runner is closed");
    const spec = ctx.spec.remote;
    if (spec === undefined) throw new Error(`task ${ctx.taskKey} has no remote spec`);
    const adapter = this.#adapters.get(spec.adapter);
    if (adapter === undefined) {
      throw new Error(`unknown remote adapter "${spec.adapter}" (known: ${this.listAdapterNames().join(", ") || "none"})`);
    }
    let remoteId: string;
    try {
      ({ remoteId } = await adapter.submit(spec.input ?? null, {
        jobId: ctx.jobId,
        taskKey: ctx.taskKey,
        attempt: ctx.attempt,
        params: ctx.params,
        lastCheckpoint: ctx.lastCheckpoint,
      }));
    } catch (error) {
      throw new Error(`remote submit to "${spec.adapter}" failed: ${messageOf(error)}`, { cause: error });
    }
    if (typeof remoteId !== "string" || remoteId === "") throw new Error(`remote adapter "${spec.adapter}" returned no remoteId`);
    const task = new RemoteTask(adapter, remoteId, ctx, {
      pollIntervalMs: this.#pollIntervalMs,
      cancelTimeoutMs: this.#cancelTimeoutMs,
      maxPollFailures: this.#maxPollFailures,
    });
    this.#running.add(task);
    void task.exited.then(() => this.#running.delete(task));
    return task;
  }

  /**
   * Cancel a remote job whose local runner is gone (its node died): the remote id was stored
   * for this. Throws if the adapter is unknown here or the service refuses.
   */
  async cancelOrphan(adapterName: string, remoteId: string): Promise<void> {
    const adapter = this.#adapters.get(adapterName);
    if (adapter === undefined) throw new Error(`unknown remote adapter "${adapterName}" on this node`);
    await withTimeout(() => adapter.cancel(remoteId), this.#cancelTimeoutMs, `remote cancel timed out after ${this.#cancelTimeoutMs} ms`);
  }

  /**
   * Poll a remote job whose local task has ended (a cancel of it was refused): its state, so
   * the engine can tell when it has really stopped. Throws if the adapter is unknown here or
   * the service fails.
   */
  async pollOrphan(adapterName: string, remoteId: string): Promise<RemoteState> {
    const adapter = this.#adapters.get(adapterName);
    if (adapter === undefined) throw new Error(`unknown remote adapter "${adapterName}" on this node`);
    return (await adapter.poll(remoteId)).state;
  }

  /** Stops polling. Remote jobs keep running remotely; their local tasks end `failed` ("remote runner closed"). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const task of this.#running) task.abandon("remote runner closed");
  }
}

interface RemoteTimings {
  pollIntervalMs: number;
  cancelTimeoutMs: number;
  maxPollFailures: number;
}

class RemoteTask implements RunningTask {
  readonly identity: RunnerIdentity;
  readonly exited: Promise<RunnerExit>;
  remoteCancel?: RemoteCancelResult;
  readonly #adapter: RemoteAdapter;
  readonly #remoteId: string;
  readonly #ctx: RunContext;
  readonly #timings: RemoteTimings;
  #done = false;
  #killRequested = false;
  /** A cancel sent to the service that has not answered yet. */
  #cancelInFlight = false;
  #timer: NodeJS.Timeout | undefined;
  #pollFailures = 0;
  #lastProgress: string | undefined;
  #resolveExited!: (exit: RunnerExit) => void;

  constructor(adapter: RemoteAdapter, remoteId: string, ctx: RunContext, timings: RemoteTimings) {
    this.#adapter = adapter;
    this.#remoteId = remoteId;
    this.#ctx = ctx;
    this.#timings = timings;
    this.identity = { pid: null, pidStartTime: null, remoteId };
    this.exited = new Promise<RunnerExit>((resolve) => {
      this.#resolveExited = resolve;
    });
    this.#schedulePoll(0);
  }

  async signal(): Promise<boolean> {
    if (this.#done) return false;
    const result = await this.#cancelRemote();
    if (result.cancelled) return true;
    // The local cancel completes anyway (DESIGN §3); the task's log keeps the warning.
    this.#log(`warning: remote cancel of ${this.#remoteId} failed: ${result.error ?? "unknown error"}`);
    this.#finish({ outcome: "failed", error: `remote cancel failed: ${result.error ?? "unknown error"}` });
    return false;
  }

  async kill(): Promise<void> {
    if (this.#done) return;
    this.#killRequested = true;
    if (this.#cancelInFlight) {
      // The grace ran out before the service answered the cancel: the record must still say
      // it was attempted, and that it is not known to have worked.
      this.remoteCancel ??= { attempted: true, cancelled: false, error: "no answer before the task was force-stopped", remoteId: this.#remoteId };
    } else if (this.remoteCancel === undefined) {
      // Best effort, not awaited: the local stop must not wait on the remote service. Until
      // it answers, the remote job is not known to have stopped (the engine follows it up).
      this.remoteCancel = { attempted: true, cancelled: false, error: "force-stopped before the service answered the cancel", remoteId: this.#remoteId };
      void this.#cancelRemote();
    }
    this.#finish({ outcome: "failed", error: "remote job abandoned: kill() stopped tracking it" });
  }

  abandon(reason: string): void {
    this.#finish({ outcome: "failed", error: reason });
  }

  async #cancelRemote(): Promise<RemoteCancelResult> {
    let result: RemoteCancelResult;
    this.#cancelInFlight = true;
    try {
      await withTimeout(() => this.#adapter.cancel(this.#remoteId), this.#timings.cancelTimeoutMs, `timed out after ${this.#timings.cancelTimeoutMs} ms`);
      result = { attempted: true, cancelled: true, error: null, remoteId: this.#remoteId };
    } catch (error) {
      result = { attempted: true, cancelled: false, error: messageOf(error), remoteId: this.#remoteId };
    } finally {
      this.#cancelInFlight = false;
    }
    // A later successful cancel (e.g. signal() after a failed one) overwrites a failure, not the reverse.
    if (this.remoteCancel === undefined || !this.remoteCancel.cancelled) this.remoteCancel = result;
    return result;
  }

  #schedulePoll(delayMs: number): void {
    if (this.#done) return;
    this.#timer = setTimeout(() => void this.#poll(), delayMs);
  }

  async #poll(): Promise<void> {
    if (this.#done) return;
    let result: RemotePollResult;
    try {
      result = await this.#adapter.poll(this.#remoteId);
      this.#pollFailures = 0;
    } catch (error) {
      this.#pollFailures++;
      this.#log(`remote poll failed (${this.#pollFailures}/${this.#timings.maxPollFailures}): ${messageOf(error)}`);
      if (this.#pollFailures >= this.#timings.maxPollFailures) {
        this.#finish({ outcome: "failed", error: `remote poll failed: ${messageOf(error)}` });
      } else {
        this.#schedulePoll(this.#timings.pollIntervalMs);
      }
      return;
    }
    if (this.#done) return;

    if (result.progress !== undefined) {
      const key = JSON.stringify(result.progress);
      if (key !== this.#lastProgress) {
        this.#lastProgress = key;
        try {
          this.#ctx.onProgress(result.progress);
        } catch {
          // A failing callback must not break the runner.
        }
      }
    }

    switch (result.state) {
      case "succeeded":
        this.#finish({ outcome: "succeeded", output: result.output ?? null });
        return;
      case "failed":
        this.#finish({ outcome: "failed", error: result.error ?? "remote job failed" });
        return;
      case "cancelled":
        this.#finish({ outcome: "failed", error: result.error ?? "remote job cancelled" });
        return;
      case "queued":
      case "running":
        this.#schedulePoll(this.#timings.pollIntervalMs);
        return;
      default:
        this.#finish({ outcome: "failed", error: `remote adapter reported an unknown state ${JSON.stringify(result.state)}` });
    }
  }

  #finish(exit: { outcome: "succeeded" | "failed"; error?: string; output?: Json }): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#resolveExited({
      outcome: exit.outcome,
      exitCode: null,
      signal: null,
      error: exit.error ?? null,
      output: exit.output ?? null,
      forced: this.#killRequested,
    });
  }

  #log(line: string): void {
    try {
      this.#ctx.onLog("log", line);
    } catch {
      // A failing callback must not break the runner.
    }
  }
}

/** `call()` bounded by `ms`; a synchronous throw of `call` becomes a rejection too. */
async function withTimeout(call: () => Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    await Promise.race([(async () => call())(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
