/**
 * The worker-thread side of `HandlerRunner` (see handler.ts for the protocol's owner).
 *
 * One thread runs at most one handler at a time, so that terminating a thread whose
 * handler ignores its AbortSignal stops that handler and nothing else.
 *
 * This file runs as a plain Node entry point inside the thread (no bundler), so it may only
 * import `node:` built-ins and types.
 */
import { Console } from "node:console";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { format } from "node:util";
import { parentPort, workerData } from "node:worker_threads";
import type { Json } from "../core/model.ts";

export interface ThreadData {
  /** A path (absolute, or relative to the process's cwd) or a `file:` URL of the handlers module. */
  modulePath: string;
}

export type ToThread =
  | {
      type: "run";
      runId: number;
      name: string;
      input: Json;
      lastCheckpoint: Json | null;
      jobId: string;
      taskKey: string;
      attempt: number;
      params: Json;
    }
  | { type: "abort"; runId: number }
  | { type: "list"; requestId: number }
  | { type: "child-result"; runId: number; requestId: number; ok: true; value: Json }
  | { type: "child-result"; runId: number; requestId: number; ok: false; error: string; code: string | null };

export type FromThread =
  | { type: "progress"; runId: number; data: Json }
  | { type: "checkpoint"; runId: number; data: Json }
  | { type: "log"; runId: number; stream: "stdout" | "stderr" | "log"; line: string }
  | { type: "abort-ack"; runId: number; delivered: boolean }
  /** `ctx.submitChild(spec)` / `ctx.waitForChild(id)`: answered by a `child-result` of the same requestId. */
  | { type: "child-request"; runId: number; requestId: number; op: "submit"; spec: Json }
  | { type: "child-request"; runId: number; requestId: number; op: "wait"; jobId: string }
  /** `leftovers`: what the run left behind (see leftoversOf); the runner discards a cancelled run's thread if any. */
  | { type: "done"; runId: number; ok: true; output: Json; leftovers: string[] }
  | { type: "done"; runId: number; ok: false; error: string; leftovers: string[] }
  | { type: "names"; requestId: number; ok: true; names: string[] }
  | { type: "names"; requestId: number; ok: false; error: string };

/** What a handler receives as its second argument. */
export interface HandlerContext {
  signal: AbortSignal;
  /** Report progress: `ratio` (0..1) and `message` are taken from the object if present; the whole object is kept as data. */
  progress(data: { [key: string]: Json }): void;
  /** Save a checkpoint; a later attempt (retry or resume) receives the last one as `lastCheckpoint`. */
  checkpoint(data: Json): void;
  lastCheckpoint: Json | null;
  /** Log a line to the task's log (arguments formatted like console.log). */
  log(...args: unknown[]): void;
  jobId: string;
  taskKey: string;
  attempt: number;
  params: Json;
  /**
   * Start a child job (DESIGN §7): the spec is a job spec as `POST /jobs` takes it, plus
   * `onParentCancel` ("cancel", the default, or "detach"). The child is owned by this job's
   * owner, checked against the same policy, and cancelled with this job unless detached.
   * Resolves with the child's id and status; rejects with an Error whose `code` is
   * `JOB_CANCELLING` once this job's tree is being cancelled, `INVALID_REQUEST` past the
   * depth limit, `FORBIDDEN` for a task the submitter may not run.
   */
  submitChild(spec: { [key: string]: Json }): Promise<ChildJobInfo>;
  /** Resolves once a child job has ended, with its status and its tasks' outputs. */
  waitForChild(jobId: string): Promise<ChildJobInfo>;
}

/** A child job as a handler sees it. */
export interface ChildJobInfo {
  id: string;
  name: string;
  status: string;
  /** Its parent's cancel does not reach it (`onParentCancel: "detach"`). */
  detached: boolean;
  /** Task key → output, for the tasks that have one. */
  outputs: { [key: string]: Json };
  /** The first failed task's error, if any. */
  error: string | null;
}

export type HandlerFunction = (input: Json, ctx: HandlerContext) => unknown;

type Handlers = Map<string, HandlerFunction>;

const port = parentPort;
if (port === null) throw new Error("handler-thread.ts must run in a worker thread");
const { modulePath } = workerData as ThreadData;

function post(message: FromThread): void {
  port!.postMessage(message);
}

function moduleUrl(path: string): string {
  return /^(file|data):/.test(path) ? path : pathToFileURL(path).href;
}

/** Handlers are the module's named function exports, plus the function properties of a default-exported object. */
function collectHandlers(mod: Record<string, unknown>): Handlers {
  const handlers: Handlers = new Map();
  const fallback = mod["default"];
  if (typeof fallback === "object" && fallback !== null) {
    for (const [name, value] of Object.entries(fallback)) {
      if (typeof value === "function") handlers.set(name, value as HandlerFunction);
    }
  }
  // Named exports win over properties of the default object with the same name.
  for (const [name, value] of Object.entries(mod)) {
    if (name !== "default" && typeof value === "function") handlers.set(name, value as HandlerFunction);
  }
  return handlers;
}

// Imported once per thread, lazily, and shared by every run of this thread.
let handlersPromise: Promise<Handlers> | undefined;
function loadHandlers(): Promise<Handlers> {
  handlersPromise ??= import(moduleUrl(modulePath)).then(
    (mod: Record<string, unknown>) => collectHandlers(mod),
    (error: unknown) => {
      throw new Error(`cannot load handlers module ${modulePath}: ${messageOf(error)}`, { cause: error });
    },
  );
  return handlersPromise;
}

/** JSON in, JSON out: rejects what JSON cannot carry (functions, BigInt, cycles) and normalises the rest (Dates become strings, undefined properties vanish). */
function toJson(value: unknown, what: string): Json {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${what} is not JSON-serializable: ${messageOf(error)}`, { cause: error });
  }
  if (text === undefined) throw new TypeError(`${what} is not JSON-serializable (${typeof value})`);
  return JSON.parse(text) as Json;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function postLines(runId: number, stream: "stdout" | "stderr" | "log", text: string): void {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) post({ type: "log", runId, stream, line: line.endsWith("\r") ? line.slice(0, -1) : line });
}

interface CurrentRun {
  runId: number;
  controller: AbortController;
}

/** Child requests waiting for their answer, by request id. */
const childRequests = new Map<number, { runId: number; resolve: (value: Json) => void; reject: (error: Error) => void }>();
let nextChildRequest = 1;

function childRequest(runId: number, request: { op: "submit"; spec: Json } | { op: "wait"; jobId: string }): Promise<Json> {
  const requestId = nextChildRequest++;
  return new Promise<Json>((resolve, reject) => {
    childRequests.set(requestId, { runId, resolve, reject });
    post({ type: "child-request", runId, requestId, ...request });
  });
}
let current: CurrentRun | null = null;

// console.* inside a handler goes to the task's log of the run in progress (the thread runs
// one at a time). Posting synchronously on the same port keeps it ordered with `done`.
function consoleStream(stream: "stdout" | "stderr"): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      if (current !== null) postLines(current.runId, stream, typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      callback();
    },
  });
}
globalThis.console = new Console({ stdout: consoleStream("stdout"), stderr: consoleStream("stderr") });

/**
 * What a run left behind that can still call into it once it has ended: the active handles and
 * requests (timers, sockets, files…) it added to those alive when it started, and its child
 * requests still unanswered. A cancelled handler often returns early and leaves such work
 * running; a timer of it that throws later would fail whatever handler runs next on this
 * thread. Counted by kind, so a handle the module keeps across runs (a pool made at import or
 * by an earlier run) is not blamed on this one. Not seen: an unref'ed timer or handle, which
 * Node does not list as active (async_hooks would see it, at a cost on every handler's code).
 */
function leftoversOf(runId: number, aliveAtStart: string[]): string[] {
  const remaining = new Map<string, number>();
  for (const kind of aliveAtStart) remaining.set(kind, (remaining.get(kind) ?? 0) + 1);
  const added: string[] = [];
  for (const kind of process.getActiveResourcesInfo()) {
    const left = remaining.get(kind) ?? 0;
    if (left > 0) remaining.set(kind, left - 1);
    else added.push(kind);
  }
  for (const request of childRequests.values()) if (request.runId === runId) added.push("child job request");
  return added;
}

async function run(message: Extract<ToThread, { type: "run" }>): Promise<void> {
  const { runId } = message;
  // Taken again once the module is loaded: what its import opened is not this run's.
  let aliveAtStart = process.getActiveResourcesInfo();
  // Register the run before any await, so that an abort arriving while the module loads
  // finds it.
  const controller = new AbortController();
  current = { runId, controller };
  try {
    const handlers = await loadHandlers();
    aliveAtStart = process.getActiveResourcesInfo();
    const fn = handlers.get(message.name);
    if (fn === undefined) {
      const known = [...handlers.keys()].sort();
      throw new Error(`unknown handler "${message.name}" (known: ${known.length > 0 ? known.join(", ") : "none"})`);
    }
    // Aborted while the module loaded: do not start a handler that was already cancelled.
    if (controller.signal.aborted) throw new Error("aborted before the handler started");
    const ctx: HandlerContext = {
      signal: controller.signal,
      progress(data) {
        if (typeof data !== "object" || data === null || Array.isArray(data)) {
          throw new TypeError("progress(data) takes an object, e.g. { ratio: 0.5, message: 'half way' }");
        }
        post({ type: "progress", runId, data: toJson(data, "progress data") });
      },
      checkpoint(data) {
        post({ type: "checkpoint", runId, data: toJson(data, "checkpoint data") });
      },
      lastCheckpoint: message.lastCheckpoint,
      log(...args) {
        postLines(runId, "log", format(...args));
      },
      jobId: message.jobId,
      taskKey: message.taskKey,
      attempt: message.attempt,
      params: message.params,
      submitChild: async (spec) => (await childRequest(runId, { op: "submit", spec: toJson(spec, "child job spec") })) as unknown as ChildJobInfo,
      waitForChild: async (jobId) => {
        if (typeof jobId !== "string") throw new TypeError("waitForChild(jobId) takes the child's id, a string");
        return (await childRequest(runId, { op: "wait", jobId })) as unknown as ChildJobInfo;
      },
    };
    const result = await fn(message.input, ctx);
    const output = toJson(result, "handler output");
    post({ type: "done", runId, ok: true, output, leftovers: leftoversOf(runId, aliveAtStart) });
  } catch (error) {
    post({ type: "done", runId, ok: false, error: messageOf(error), leftovers: leftoversOf(runId, aliveAtStart) });
  } finally {
    if (current?.runId === runId) current = null;
  }
}

port.on("message", (message: ToThread) => {
  switch (message.type) {
    case "run":
      void run(message);
      break;
    case "abort": {
      const delivered = current !== null && current.runId === message.runId;
      // The default reason, a DOMException named "AbortError", is what signal.throwIfAborted() throws.
      if (delivered) current!.controller.abort();
      post({ type: "abort-ack", runId: message.runId, delivered });
      break;
    }
    case "child-result": {
      const waiting = childRequests.get(message.requestId);
      if (waiting === undefined) break;
      childRequests.delete(message.requestId);
      if (message.ok) waiting.resolve(message.value);
      else waiting.reject(Object.assign(new Error(message.error), { code: message.code }));
      break;
    }
    case "list":
      loadHandlers().then(
        (handlers) => post({ type: "names", requestId: message.requestId, ok: true, names: [...handlers.keys()].sort() }),
        (error: unknown) => post({ type: "names", requestId: message.requestId, ok: false, error: messageOf(error) }),
      );
      break;
  }
});
