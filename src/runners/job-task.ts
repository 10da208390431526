/**
 * Runs `job` tasks (DESIGN §7): the task submits its child job and ends with it — succeeded,
 * failed, or cancelled with it. The child is an ordinary job, claimed by any node; this runner
 * only follows it, through the engine's `ctx.children` (it never touches the store).
 *
 * - The child is submitted with an idempotency key of the attempt, so a start repeated after
 *   a crash finds the child it already made instead of making another.
 * - `signal()` (the task or its job is cancelled) cancels the child, unless the child is
 *   detached (`onParentCancel: "detach"`): then the task ends at once and the child keeps running.
 * - `kill()` cancels the child with `force` and ends the task once that cancel is accepted;
 *   the child's own record (and its parent's `cancel_children` step) waits for its runners.
 */
import type { Json } from "../core/model.ts";
import type { ChildJobInfo, RunContext, Runner, RunnerExit, RunnerIdentity, RunningTask } from "./types.ts";

export class JobTaskRunner implements Runner {
  async start(ctx: RunContext): Promise<RunningTask> {
    const child = ctx.spec.job;
    if (child === undefined) throw new Error(`task ${ctx.taskKey} has no child job spec`);
    const children = ctx.children;
    if (children === undefined) throw new Error("child jobs are not available on this node");
    // An attempt interrupted by its node's shutdown left its child running: this one follows it.
    const left = (await children.live())[0];
    if (left !== undefined) {
      ctx.onLog("log", `following child job ${left.id} (${left.name}), started by an earlier attempt`);
      return new ChildJobRun(ctx, left);
    }
    const info = await children.submitParsed(child, { idempotencyKey: `belay:child:${ctx.jobId}:${ctx.taskKey}:${ctx.attempt}` });
    ctx.onLog("log", `child job ${info.id} (${info.name}) submitted${info.detached ? ", detached" : ""}`);
    return new ChildJobRun(ctx, info);
  }

  async close(): Promise<void> {}
}

class ChildJobRun implements RunningTask {
  readonly identity: RunnerIdentity = { pid: null, pidStartTime: null, remoteId: null };
  readonly exited: Promise<RunnerExit>;
  readonly #ctx: RunContext;
  readonly #child: ChildJobInfo;
  #signalled = false;
  #finish!: (exit: RunnerExit) => void;
  #done = false;

  constructor(ctx: RunContext, child: ChildJobInfo) {
    this.#ctx = ctx;
    this.#child = child;
    this.exited = new Promise<RunnerExit>((resolve) => (this.#finish = resolve));
    void this.#follow();
  }

  async #follow(): Promise<void> {
    const children = this.#ctx.children!;
    try {
      const ended = await children.ended(this.#child.id);
      this.#end(exitFor(ended));
    } catch (error) {
      this.#end({ outcome: "failed", exitCode: null, signal: null, error: `lost track of child job ${this.#child.id}: ${(error as Error).message}`, output: null, forced: false });
    }
  }

  #end(exit: RunnerExit): void {
    if (this.#done) return;
    this.#done = true;
    this.#ctx.onLog("log", `child job ${this.#child.id} ${exit.error ?? "succeeded"}`);
    this.#finish(exit);
  }

  async signal(): Promise<boolean> {
    if (this.#done) return false;
    if (this.#signalled) return true;
    this.#signalled = true;
    if (this.#child.detached) {
      this.#end({ outcome: "failed", exitCode: null, signal: null, error: `detached from child job ${this.#child.id}, which keeps running`, output: { jobId: this.#child.id, detached: true }, forced: false });
      return true;
    }
    const cancelled = await this.#ctx.children!.cancel(this.#child.id, { force: false, reason: null }).catch(() => true);
    if (!cancelled) this.#leave();
    return true;
  }

  async kill(): Promise<void> {
    if (this.#done) return;
    const cancelled = this.#child.detached ? false : await this.#ctx.children!.cancel(this.#child.id, { force: true, reason: null }).catch(() => true);
    if (!cancelled) {
      this.#leave();
      return;
    }
    this.#end({ outcome: "failed", exitCode: null, signal: null, error: `child job ${this.#child.id} force-cancelled`, output: { jobId: this.#child.id }, forced: true });
  }

  /** An interruption (the node shuts down): stop following; the child runs on, for the next attempt. */
  #leave(): void {
    this.#end({ outcome: "failed", exitCode: null, signal: null, error: `interrupted; child job ${this.#child.id} keeps running`, output: { jobId: this.#child.id }, forced: false });
  }
}

/** The task's end for its child's end: succeeded with it, failed with it, cancelled with it. */
function exitFor(child: ChildJobInfo): RunnerExit {
  const output: Json = { jobId: child.id, status: child.status, outputs: child.outputs };
  if (child.status === "succeeded") return { outcome: "succeeded", exitCode: null, signal: null, error: null, output, forced: false };
  if (child.status === "cancelled") return { outcome: "cancelled", exitCode: null, signal: null, error: `child job ${child.id} was cancelled`, output, forced: false };
  return { outcome: "failed", exitCode: null, signal: null, error: `child job ${child.id} ended ${child.status}${child.error === null ? "" : `: ${child.error}`}`, output, forced: false };
}
