/**
 * Runs `handler` tasks: JavaScript functions `async (input, ctx) => output` exported by one
 * module, each run in a worker thread so that a handler that ignores its AbortSignal — even
 * one that never yields (`while (true) {}`) — can still be stopped, by terminating its thread.
 *
 * Pool rules:
 * - A thread runs ONE handler at a time: terminating it never stops another handler.
 * - Idle threads are reused (the module is imported once per thread); at most `maxThreads`
 *   threads live at once. When all are busy, `start` still resolves at once with a task
 *   that waits in a FIFO queue for a free thread. Why not make `start` wait: the engine
 *   must be able to cancel a task at any moment, so it needs the `RunningTask` handle even
 *   before a thread is free. A queued task that is signalled or killed never runs.
 * - A thread whose handler was killed (or crashed the thread) is discarded, never reused; so
 *   is the thread of a cancelled handler that left timers, sockets or other work behind.
 * - Idle threads are `unref`ed: they do not keep the process alive.
 *
 * Handlers are given as a module path (not functions) because a function cannot be sent to
 * a thread; the thread imports the module itself. See handler-thread.ts for the handler's
 * `ctx` and the message protocol.
 */
import { isAbsolute, resolve as resolvePath } from "node:path";
import { Worker } from "node:worker_threads";
import type { Json } from "../core/model.ts";
import type { FromThread, ThreadData, ToThread } from "./handler-thread.ts";
import type { ProgressUpdate, RunContext, Runner, RunnerExit, RunnerIdentity, RunningTask } from "./types.ts";

export type { ChildJobInfo, HandlerContext, HandlerFunction } from "./handler-thread.ts";

export interface HandlerRunnerOptions {
  /** The handlers module: an absolute path, a path relative to the process's cwd, or a `file:` URL. */
  modulePath: string;
  /** Most worker threads alive at once (busy + idle). Default 16. */
  maxThreads?: number;
}

// Keep the extension of this file: `.ts` when running from src (Node type stripping),
// `.js` when running the tsc build in dist (tsc does not rewrite this string).
const threadScript = new URL(`./handler-thread${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

let nextRunId = 1;

export class HandlerRunner implements Runner {
  readonly #modulePath: string;
  readonly #maxThreads: number;
  readonly #threads = new Set<HandlerThread>();
  readonly #idle: HandlerThread[] = [];
  readonly #queue: HandlerTask[] = [];
  #closed = false;
  #names: Promise<string[]> | undefined;

  constructor(options: HandlerRunnerOptions) {
    const maxThreads = options.maxThreads ?? 16;
    if (!Number.isInteger(maxThreads) || maxThreads < 1) throw new Error(`maxThreads must be a positive integer, got ${maxThreads}`);
    this.#maxThreads = maxThreads;
    this.#modulePath =
      /^(file|data):/.test(options.modulePath) || isAbsolute(options.modulePath)
        ? options.modulePath
        : resolvePath(options.modulePath);
  }

  /** Threads alive now (busy or idle). For tests and metrics. */
  get threadCount(): number {
    return this.#threads.size;
  }

  async start(ctx: RunContext): Promise<RunningTask> {
    if (this.#closed) throw new Error("handler runner is closed");
    const spec = ctx.spec.handler;
    if (spec === undefined) throw new Error(`task ${ctx.taskKey} has no handler spec`);
    const task = new HandlerTask(ctx, spec.handler, spec.input ?? null, (t) => this.#unqueue(t));
    this.#queue.push(task);
    this.#dispatch();
    return task;
  }

  /**
   * The handler names the module exports, sorted, so the engine can reject an unknown
   * handler at submit time. Imports the module in a throwaway thread (so it never takes a
   * pool slot); the answer is cached for the life of the runner. Rejects if the module
   * cannot be loaded.
   */
  listHandlerNames(): Promise<string[]> {
    this.#names ??= listInThrowawayThread(this.#modulePath).catch((error: unknown) => {
      this.#names = undefined;
      throw error;
    });
    return this.#names;
  }

  /** Terminates every thread. Running tasks end `failed` ("handler runner closed"); queued ones never start. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const task of this.#queue.splice(0)) task.finishUnstarted("handler runner closed before the handler started", false);
    this.#idle.length = 0;
    await Promise.all([...this.#threads].map((thread) => thread.terminate("handler runner closed")));
  }

  #unqueue(task: HandlerTask): boolean {
    const index = this.#queue.indexOf(task);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    return true;
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let thread = this.#idle.pop();
      if (thread === undefined) {
        if (this.#threads.size >= this.#maxThreads) return;
        thread = this.#newThread();
      }
      const task = this.#queue.shift()!;
      thread.run(task);
    }
  }

  #newThread(): HandlerThread {
    const thread = new HandlerThread(this.#modulePath, {
      onIdle: (t) => {
        if (this.#closed) {
          void t.terminate("handler runner closed");
          return;
        }
        this.#idle.push(t);
        this.#dispatch();
      },
      onExit: (t) => {
        this.#threads.delete(t);
        const index = this.#idle.indexOf(t);
        if (index >= 0) this.#idle.splice(index, 1);
        this.#dispatch();
      },
    });
    this.#threads.add(thread);
    return thread;
  }
}

interface ThreadEvents {
  onIdle(thread: HandlerThread): void;
  onExit(thread: HandlerThread): void;
}

class HandlerThread {
  readonly #worker: Worker;
  readonly #events: ThreadEvents;
  #current: HandlerTask | null = null;
  #exited = false;
  #crash: string | null = null;
  #terminateReason: string | null = null;

  constructor(modulePath: string, events: ThreadEvents) {
    this.#events = events;
    const workerData: ThreadData = { modulePath };
    this.#worker = new Worker(threadScript, { workerData });
    this.#worker.on("message", (message: FromThread) => this.#onMessage(message));
    // An uncaught exception in the thread (e.g. a handler's stray rejected promise) ends
    // the thread; 'exit' follows and fails the run with this message.
    this.#worker.on("error", (error: Error) => {
      this.#crash = error.message;
    });
    this.#worker.on("exit", (code) => this.#onExit(code));
  }

  run(task: HandlerTask): void {
    this.#current = task;
    this.#worker.ref();
    task.attach(this);
    const ctx = task.ctx;
    this.post({
      type: "run",
      runId: task.runId,
      name: task.handlerName,
      input: task.input,
      lastCheckpoint: ctx.lastCheckpoint,
      jobId: ctx.jobId,
      taskKey: ctx.taskKey,
      attempt: ctx.attempt,
      params: ctx.params,
    });
  }

  post(message: ToThread): void {
    if (!this.#exited) this.#worker.postMessage(message);
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Ends the thread; the run in progress, if any, fails with `reason`. Resolves when the thread is gone. */
  async terminate(reason: string): Promise<void> {
    this.#terminateReason ??= reason;
    if (this.#exited) return;
    try {
      await this.#worker.terminate();
    } catch {
      // terminate() only rejects if the thread is already gone.
    }
  }

  #onMessage(message: FromThread): void {
    const task = this.#current;
    if (message.type === "names" || task === null || message.runId !== task.runId) return; // stale: a previous run's leftovers
    if (message.type === "done") {
      this.#current = null;
      task.finish(
        message.ok
          ? { outcome: "succeeded", exitCode: null, signal: null, error: null, output: message.output, forced: task.killRequested }
          : { outcome: "failed", exitCode: null, signal: null, error: message.error, output: null, forced: task.killRequested },
      );
      // A killed task's thread is being terminated: never hand it out again.
      if (task.killRequested || this.#terminateReason !== null) return;
      // A handler that was asked to stop often returns early and may leave timers or other
      // work behind that throw later, under the next handler run here: such a thread is not
      // reused. One that left nothing is: a new thread (V8 isolate, bootstrap, the module's
      // import) costs about 50 ms of CPU, and discarding every cancelled handler's thread
      // made the mixed load (npm run load) take 6x the server CPU per request.
      if (task.abortSent && message.leftovers.length > 0) {
        void this.terminate(`discarded after a cancelled handler that left work behind (${message.leftovers.join(", ")})`);
        return;
      }
      this.#worker.unref();
      this.#events.onIdle(this);
      return;
    }
    task.onThreadMessage(message);
  }

  #onExit(code: number): void {
    this.#exited = true;
    const task = this.#current;
    this.#current = null;
    if (task !== null) {
      const error = task.killRequested
        ? "handler killed: its thread was terminated"
        : this.#crash !== null
          ? `handler thread crashed: ${this.#crash}`
          : (this.#terminateReason ?? `handler thread exited with code ${code}`);
      task.finish({ outcome: "failed", exitCode: null, signal: null, error, output: null, forced: task.killRequested });
    }
    this.#events.onExit(this);
  }
}

class HandlerTask implements RunningTask {
  readonly identity: RunnerIdentity = { pid: null, pidStartTime: null, remoteId: null };
  readonly exited: Promise<RunnerExit>;
  readonly runId = nextRunId++;
  readonly ctx: RunContext;
  /** The abort was posted to the thread. */
  abortSent = false;
  readonly handlerName: string;
  readonly input: Json;
  killRequested = false;
  #thread: HandlerThread | null = null;
  #done = false;
  #resolveExited!: (exit: RunnerExit) => void;
  readonly #unqueue: (task: HandlerTask) => boolean;
  /** Pending `signal()` calls, resolved by the thread's ack, or false when the run ends first. */
  #signalWaiters: ((delivered: boolean) => void)[] = [];

  constructor(ctx: RunContext, handlerName: string, input: Json, unqueue: (task: HandlerTask) => boolean) {
    this.ctx = ctx;
    this.handlerName = handlerName;
    this.input = input;
    this.#unqueue = unqueue;
    this.exited = new Promise<RunnerExit>((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  attach(thread: HandlerThread): void {
    this.#thread = thread;
  }

  /**
   * Resolves true when the thread has aborted the handler's AbortSignal. A handler that
   * never yields never lets its thread read the abort message: then this stays pending
   * until the run ends some other way (kill() terminating the thread), and resolves false.
   */
  signal(): Promise<boolean> {
    if (this.#done) return Promise.resolve(false);
    if (this.#thread === null) {
      // Still queued: it will never run. The stop is delivered by not starting it.
      if (this.#unqueue(this)) this.finishUnstarted("cancelled before the handler started", false);
      return Promise.resolve(true);
    }
    const thread = this.#thread;
    this.abortSent = true;
    return new Promise<boolean>((resolve) => {
      this.#signalWaiters.push(resolve);
      thread.post({ type: "abort", runId: this.runId });
    });
  }

  async kill(): Promise<void> {
    if (this.#done) return;
    this.killRequested = true;
    if (this.#thread === null) {
      if (this.#unqueue(this)) this.finishUnstarted("killed before the handler started", true);
      return;
    }
    await this.#thread.terminate("handler killed: its thread was terminated");
  }

  onThreadMessage(message: Exclude<FromThread, { type: "done" } | { type: "names" }>): void {
    if (this.#done) return;
    try {
      switch (message.type) {
        case "progress":
          this.ctx.onProgress(progressUpdate(message.data));
          break;
        case "checkpoint":
          this.ctx.onCheckpoint(message.data);
          break;
        case "log":
          this.ctx.onLog(message.stream, message.line);
          break;
        case "abort-ack":
          for (const resolve of this.#signalWaiters.splice(0)) resolve(message.delivered);
          break;
        case "child-request":
          void this.#answerChildRequest(message);
          break;
      }
    } catch {
      // A failing callback must not break the runner.
    }
  }

  /** A handler's `submitChild` / `waitForChild`, done by the engine's `ctx.children` and answered to the thread. */
  async #answerChildRequest(message: Extract<FromThread, { type: "child-request" }>): Promise<void> {
    const thread = this.#thread;
    const children = this.ctx.children;
    let answer: ToThread;
    try {
      if (children === undefined) throw new Error("child jobs are not available to this handler");
      const value = message.op === "submit" ? await children.submit(message.spec) : await children.ended(message.jobId);
      answer = { type: "child-result", runId: message.runId, requestId: message.requestId, ok: true, value: value as unknown as Json };
    } catch (error) {
      const code = typeof (error as { code?: unknown }).code === "string" ? ((error as { code: string }).code) : null;
      answer = { type: "child-result", runId: message.runId, requestId: message.requestId, ok: false, error: (error as Error).message, code };
    }
    if (!this.#done) thread?.post(answer);
  }

  finishUnstarted(error: string, forced: boolean): void {
    this.finish({ outcome: "failed", exitCode: null, signal: null, error, output: null, forced });
  }

  finish(exit: RunnerExit): void {
    if (this.#done) return;
    this.#done = true;
    for (const resolve of this.#signalWaiters.splice(0)) resolve(false);
    this.#resolveExited(exit);
  }
}

/** `ratio` and `message` pulled out of the object when present; the whole object kept as `data`. */
function progressUpdate(data: Json): ProgressUpdate {
  const update: ProgressUpdate = { data };
  if (typeof data === "object" && data !== null && !Array.isArray(data)) {
    const ratio = data["ratio"];
    if (typeof ratio === "number" && Number.isFinite(ratio)) update.ratio = ratio;
    const message = data["message"];
    if (typeof message === "string") update.message = message;
  }
  return update;
}

function listInThrowawayThread(modulePath: string): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    const workerData: ThreadData = { modulePath };
    const worker = new Worker(threadScript, { workerData });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on("message", (message: FromThread) => {
      if (message.type !== "names") return;
      settle(() => (message.ok ? resolve(message.names) : reject(new Error(message.error))));
    });
    worker.on("error", (error: Error) => settle(() => reject(error)));
    worker.on("exit", (code) => settle(() => reject(new Error(`handler thread exited with code ${code} before listing handlers`))));
    const request: ToThread = { type: "list", requestId: 1 };
    worker.postMessage(request);
  });
}
