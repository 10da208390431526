/**
 * Runs a `process` task as a child process in its own process group.
 *
 * Why a process group: a task is often a shell or a build tool that starts children of its
 * own. Signalling only the child would leave those running; signalling `-pgid` reaches
 * every member. The child is spawned `detached` (setsid), so pgid == pid and the group
 * is known without asking.
 *
 * Lifecycle of one attempt:
 * - `signal()` sends SIGTERM to the whole group; `kill()` sends SIGKILL to the whole group.
 * - `exited` resolves only when the leader has exited AND no live member of its group is
 *   left, and after stdout/stderr have been read to the end (bounded, see `drainTimeoutMs`).
 * - When the leader exits on its own (no `signal()` was called), members still in the
 *   group are SIGKILLed at once, like systemd's `KillMode=control-group`: a task is its
 *   whole group, and a finished task must not leave workers behind or hang forever
 *   because a background child never exits. Tasks that want a daemon to outlive them must
 *   detach it into a group of their own (which Belay then does not track).
 *
 * Limitation: a process that moves itself to another process group or session (setsid,
 * setpgid, double-fork daemons) escapes the group; only cgroups could follow it.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, chownSync, lchownSync, lstatSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { Readable } from "node:stream";
import type { Json } from "../core/model.ts";
import { isGroupAlive, killGroup, readProcessStartTime } from "./proc.ts";
import { OneTaskUser } from "./task-users.ts";
import type { TaskUser, TaskUsers } from "./task-users.ts";
import type { ProgressUpdate, RunContext, Runner, RunnerExit, RunnerIdentity, RunningTask } from "./types.ts";

export interface ProcessRunnerOptions {
  /** How often to check whether the process group is gone once the leader has exited. Default 15 ms. */
  groupPollIntervalMs?: number;
  /**
   * Once the group is gone, how long to wait for stdout/stderr to reach end-of-file before
   * giving up on them. A pipe stays open while any process holds it, e.g. one that escaped
   * the group; we must not wait for that forever. Default 500 ms.
   */
  drainTimeoutMs?: number;
  /** A line longer than this is split into several log lines, so one never-ending line cannot exhaust memory. Default 65 536 characters. */
  maxLineLength?: number;
  /** The value of a `{"secret": NAME}` env value, or undefined if this node does not have it. */
  secret?: (name: string) => string | undefined;
  /**
   * Run tasks under this uid/gid (needs the node to run as root). Each attempt's work dir
   * and artifacts dir are given to it while the attempt runs; afterwards its artifacts go
   * back to this process's user, so a later task cannot read them. Shorthand for
   * `taskUsers: new OneTaskUser(runAs)`.
   */
  runAs?: { uid: number; gid: number };
  /** Where each attempt's uid/gid comes from (`--run-as-uids`: `TaskUidRange`, one uid per running attempt). Wins over `runAs`. */
  taskUsers?: TaskUsers;
  /** The environment a task starts from (PATH, LANG, TZ are taken from it). Default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
}

/** What a task inherits of the node's environment: nothing else (DESIGN §6, "What a task sees"). */
const inheritedVariables = ["PATH", "LANG", "TZ"] as const;
const defaultPath = "/usr/local/bin:/usr/bin:/bin";

/** The stdout line prefix that turns a line into a progress update: `BELAY_PROGRESS {"ratio":0.5,"message":"…"}`. */
export const PROGRESS_PREFIX = "BELAY_PROGRESS ";

export class ProcessRunner implements Runner {
  readonly #groupPollIntervalMs: number;
  readonly #drainTimeoutMs: number;
  readonly #maxLineLength: number;
  readonly #secret: (name: string) => string | undefined;
  readonly #taskUsers: TaskUsers | undefined;
  readonly #baseEnv: NodeJS.ProcessEnv;

  constructor(options: ProcessRunnerOptions = {}) {
    this.#groupPollIntervalMs = options.groupPollIntervalMs ?? 15;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 500;
    this.#maxLineLength = options.maxLineLength ?? 65_536;
    this.#secret = options.secret ?? (() => undefined);
    this.#taskUsers = options.taskUsers ?? (options.runAs === undefined ? undefined : new OneTaskUser(options.runAs));
    this.#baseEnv = options.baseEnv ?? process.env;
  }

  /**
   * The environment of a task: PATH, LANG, TZ of the node, HOME = the work dir, the spec's
   * env with secrets resolved, and the BELAY_* variables. Returns the secret values too, to
   * mask them in the log.
   */
  #environment(ctx: RunContext, workDir: string): { env: NodeJS.ProcessEnv; secrets: string[] } {
    const env: NodeJS.ProcessEnv = {};
    for (const name of inheritedVariables) {
      const value = this.#baseEnv[name];
      if (value !== undefined) env[name] = value;
    }
    env["PATH"] ??= defaultPath;
    env["LANG"] ??= "C.UTF-8";
    env["HOME"] = workDir;
    const secrets: string[] = [];
    for (const [name, value] of Object.entries(ctx.spec.process?.env ?? {})) {
      if (typeof value === "string") {
        env[name] = value;
        continue;
      }
      const resolved = this.#secret(value.secret);
      if (resolved === undefined) throw new Error(`secret "${value.secret}" (env ${name}) is not set on this node: give it in --secrets-file or BELAY_SECRET_${value.secret}`);
      env[name] = resolved;
      if (resolved !== "") secrets.push(resolved);
    }
    Object.assign(env, {
      BELAY_JOB_ID: ctx.jobId,
      BELAY_TASK_KEY: ctx.taskKey,
      BELAY_ATTEMPT: String(ctx.attempt),
      BELAY_WORK_DIR: ctx.workDir,
      BELAY_ARTIFACTS: ctx.artifactsDir,
    });
    return { env, secrets };
  }

  async start(ctx: RunContext): Promise<RunningTask> {
    const spec = ctx.spec.process;
    if (spec === undefined) throw new Error(`task ${ctx.taskKey} has no process spec`);

    let file: string;
    let args: string[];
    if (typeof spec.command === "string" || spec.shell === true) {
      // An array with `shell: true` is joined with spaces, as Node's own `shell` option does.
      const script = typeof spec.command === "string" ? spec.command : spec.command.join(" ");
      if (script.trim() === "") throw new Error("process command is empty");
      file = "/bin/sh";
      args = ["-c", script];
    } else {
      const [first, ...rest] = spec.command;
      if (first === undefined || first === "") throw new Error("process command is empty");
      file = first;
      args = rest;
    }

    const cwd = resolvePath(ctx.workDir, spec.cwd ?? ".");
    // spawn reports a missing cwd as "spawn <file> ENOENT", which blames the command: check first.
    let cwdIsDir: boolean;
    try {
      cwdIsDir = statSync(cwd).isDirectory();
    } catch {
      cwdIsDir = false;
    }
    if (!cwdIsDir) throw new Error(`working directory ${cwd} does not exist or is not a directory`);

    const { env, secrets } = this.#environment(ctx, ctx.workDir);
    const taskUsers = this.#taskUsers;
    const runAs = taskUsers?.acquire();
    // Until the task object owns it, a failed start hands the uid back here.
    const giveUp = (): void => {
      if (runAs === undefined || taskUsers === undefined) return;
      takeBackDirs(ctx);
      taskUsers.release(runAs);
    };

    let child: ChildProcess;
    try {
      if (runAs !== undefined) giveDirs(ctx, runAs);
      child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"], ...(runAs === undefined ? {} : { uid: runAs.uid, gid: runAs.gid }) });
    } catch (error) {
      giveUp();
      throw new Error(`cannot start ${file}: ${messageOf(error)}`, { cause: error });
    }
    // Read the start time synchronously, before yielding: the child cannot have been
    // reaped yet (Node reaps on a later event-loop turn), so /proc/<pid> still exists even
    // if it already exited, and the pid cannot have been reused.
    const pid = child.pid;
    const startTime = pid === undefined ? null : readProcessStartTime(pid);

    await new Promise<void>((resolve, reject) => {
      const onSpawn = (): void => {
        child.off("error", onError);
        resolve();
      };
      const onError = (error: Error): void => {
        child.off("spawn", onSpawn);
        giveUp();
        reject(new Error(`cannot start ${file}: ${describeSpawnError(error)}`, { cause: error }));
      };
      child.once("spawn", onSpawn);
      child.once("error", onError);
    });
    if (pid === undefined) throw new Error(`cannot start ${file}: no pid`);

    const task = new ProcessTask(child, pid, startTime, ctx, {
      groupPollIntervalMs: this.#groupPollIntervalMs,
      drainTimeoutMs: this.#drainTimeoutMs,
      maxLineLength: this.#maxLineLength,
      secrets,
      ...(runAs === undefined || taskUsers === undefined
        ? {}
        : { reap: () => taskUsers.reap(runAs), takeBack: () => takeBackDirs(ctx), release: () => taskUsers.release(runAs) }),
    });
    return task;
  }

  /** Does not stop running tasks: stopping is the engine's decision (signal, then kill). */
  async close(): Promise<void> {
    // Nothing pooled to release; a uid range's machine-wide record goes.
    this.#taskUsers?.close?.();
  }
}

interface TaskTimings {
  groupPollIntervalMs: number;
  drainTimeoutMs: number;
  maxLineLength: number;
  /** Values masked as `***` in every line the task writes (and so in its progress). */
  secrets: string[];
  /** Under --run-as: kill what still runs as the task's uid once its group is gone (`--run-as-uids` only). */
  reap?: () => void;
  /** Under --run-as: give the work dir and artifacts back to the node's user once the group is gone. */
  takeBack?: () => void;
  /** Under --run-as: the attempt's uid may be handed out again (after `takeBack`). */
  release?: () => void;
}

/**
 * Under --run-as: the attempt's work dir and artifacts dir belong to the task's user (mode
 * 0700); the directories above them are the node's, traversable but not listable (0711), so
 * a task cannot list other jobs' directories.
 */
function giveDirs(ctx: RunContext, runAs: TaskUser): void {
  for (const dir of [ctx.workDir, ctx.artifactsDir]) {
    chmodSync(dirname(dir), 0o711);
    chmodSync(dirname(dirname(dir)), 0o711);
    chownSync(dir, runAs.uid, runAs.gid);
    chmodSync(dir, 0o700);
  }
}

/**
 * An ended attempt's directories, the node user's again: the work dir itself (so the next
 * attempt given the same uid cannot enter it before it is removed) and the artifacts,
 * recursively (so later tasks cannot read them).
 */
function takeBackDirs(ctx: RunContext): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  try {
    chownSync(ctx.workDir, uid, gid);
    chmodSync(ctx.workDir, 0o700);
  } catch {
    // Best effort: already removed.
  }
  takeBackTree(ctx.artifactsDir, uid, gid);
}

function takeBackTree(dir: string, uid: number, gid: number): void {
  const walk = (path: string): void => {
    const stat = lstatSync(path);
    lchownSync(path, uid, gid);
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  try {
    walk(dir);
  } catch {
    // Best effort: a file the task removed meanwhile.
  }
}

/** Replace every secret value in a line. Longer values first, so one containing another is masked whole. */
function maskSecrets(line: string, secrets: readonly string[]): string {
  let masked = line;
  for (const secret of secrets) {
    for (const part of secret.includes("\n") ? [secret, ...secret.split("\n").filter((p) => p.trim().length > 0)] : [secret]) {
      if (masked.includes(part)) masked = masked.split(part).join("***");
    }
  }
  return masked;
}

class ProcessTask implements RunningTask {
  readonly identity: RunnerIdentity;
  readonly exited: Promise<RunnerExit>;
  readonly #child: ChildProcess;
  readonly #pid: number;
  readonly #ctx: RunContext;
  readonly #timings: TaskTimings;
  #signalled = false;
  #killRequested = false;
  /** Set once the group is observed empty: from then on the pgid may be reused, so we never signal it again. */
  #groupGone = false;
  #done = false;
  /** A malformed BELAY_PROGRESS line has been reported (once per attempt). */
  #progressWarned = false;
  #resolveExited!: (exit: RunnerExit) => void;
  readonly #streamsClosed: Promise<void>[] = [];
  readonly #splitters: LineSplitter[] = [];

  constructor(child: ChildProcess, pid: number, startTime: string | null, ctx: RunContext, timings: TaskTimings) {
    this.#child = child;
    this.#pid = pid;
    this.#ctx = ctx;
    this.#timings = timings;
    this.identity = { pid, pidStartTime: startTime, remoteId: null };
    this.exited = new Promise<RunnerExit>((resolve) => {
      this.#resolveExited = resolve;
    });

    this.#attachStream(child.stdout, "stdout");
    this.#attachStream(child.stderr, "stderr");

    // After a successful spawn, 'error' can only come from child.kill()/send(), which we do
    // not use; listen anyway so that an unexpected one is logged, not thrown.
    child.on("error", (error) => this.#log("log", `process error: ${messageOf(error)}`));
    child.once("exit", (code, signal) => {
      void this.#afterLeaderExit(code, signal);
    });
  }

  async signal(): Promise<boolean> {
    if (this.#done || this.#groupGone) return false;
    this.#signalled = true;
    try {
      return killGroup(this.#pid, "SIGTERM");
    } catch {
      return false;
    }
  }

  async kill(): Promise<void> {
    if (this.#done || this.#groupGone) return;
    this.#killRequested = true;
    try {
      killGroup(this.#pid, "SIGKILL");
    } catch {
      // Never rejects; the group poll re-sends SIGKILL while members remain.
    }
  }

  #attachStream(stream: Readable | null, name: "stdout" | "stderr"): void {
    if (stream === null) return;
    const splitter = new LineSplitter(this.#timings.maxLineLength, (line) => this.#onLine(name, line));
    this.#splitters.push(splitter);
    stream.on("data", (chunk: Buffer) => splitter.push(chunk));
    this.#streamsClosed.push(
      new Promise<void>((resolve) => {
        stream.once("close", resolve);
        stream.once("end", resolve);
        stream.once("error", () => resolve());
      }),
    );
  }

  #onLine(stream: "stdout" | "stderr", raw: string): void {
    const line = this.#timings.secrets.length === 0 ? raw : maskSecrets(raw, this.#timings.secrets);
    this.#log(stream, line);
    if (stream === "stdout" && line.startsWith(PROGRESS_PREFIX)) {
      const parsed = parseProgressLine(line.slice(PROGRESS_PREFIX.length));
      try {
        if ("update" in parsed) this.#ctx.onProgress(parsed.update);
        else if (!this.#progressWarned) {
          // Once per attempt: a loop printing a bad line must not flood the event log.
          this.#progressWarned = true;
          this.#ctx.onWarning?.(`a BELAY_PROGRESS line was not read as progress: ${parsed.error}; it is kept as a log line (later bad lines are not reported)`);
        }
      } catch {
        // A failing callback must not break the runner.
      }
    }
  }

  #log(stream: "stdout" | "stderr" | "log", line: string): void {
    try {
      this.#ctx.onLog(stream, line);
    } catch {
      // A failing callback must not break the runner.
    }
  }

  async #afterLeaderExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    // The leader has been reaped. Its pgid cannot be reused while any member is left, so
    // signalling -pid stays safe until we observe the group empty (#groupGone).
    const stragglerKill = !this.#signalled;
    if (stragglerKill) this.#sendKillQuietly();

    while (isGroupAlive(this.#pid)) {
      // Re-send SIGKILL each round while we are killing: a member that was forking when
      // the first SIGKILL came may have left a child that missed it.
      if (stragglerKill || this.#killRequested) this.#sendKillQuietly();
      await delay(this.#timings.groupPollIntervalMs);
    }
    this.#groupGone = true;
    // Under --run-as-uids: what left the group (setsid, a daemon) dies with the attempt, and
    // no longer holds the pipes open.
    this.#timings.reap?.();

    // Everything the group wrote is in the pipes; read it to the end, but a process that
    // escaped the group may hold them open forever, so bound the wait.
    await Promise.race([Promise.all(this.#streamsClosed), delay(this.#timings.drainTimeoutMs)]);
    this.#child.stdout?.destroy();
    this.#child.stderr?.destroy();
    for (const splitter of this.#splitters) splitter.end();
    this.#timings.takeBack?.();
    this.#timings.release?.();

    this.#done = true;
    const exit: RunnerExit =
      code === 0
        ? { outcome: "succeeded", exitCode: 0, signal: null, error: null, output: null, forced: this.#killRequested }
        : {
            outcome: "failed",
            exitCode: code,
            signal,
            error: signal !== null ? `killed by ${signal}` : `exited with code ${String(code)}`,
            output: null,
            forced: this.#killRequested,
          };
    this.#resolveExited(exit);
  }

  #sendKillQuietly(): void {
    try {
      killGroup(this.#pid, "SIGKILL");
    } catch {
      // ESRCH is already swallowed; anything else we cannot act on here.
    }
  }
}

/**
 * Splits a byte stream into lines (`\n`, with a trailing `\r` removed). UTF-8 sequences
 * cut between chunks are reassembled; a final line without a newline is emitted by `end()`.
 */
class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  readonly #maxLineLength: number;
  readonly #emit: (line: string) => void;
  #buffer = "";
  #ended = false;

  constructor(maxLineLength: number, emit: (line: string) => void) {
    this.#maxLineLength = maxLineLength;
    this.#emit = emit;
  }

  push(chunk: Buffer): void {
    if (this.#ended) return;
    this.#buffer += this.#decoder.write(chunk);
    this.#drain();
  }

  end(): void {
    if (this.#ended) return;
    this.#buffer += this.#decoder.end();
    this.#drain();
    if (this.#buffer !== "") this.#emitSplit(stripCr(this.#buffer));
    this.#buffer = "";
    this.#ended = true;
  }

  #drain(): void {
    let newline: number;
    while ((newline = this.#buffer.indexOf("\n")) >= 0) {
      this.#emitSplit(stripCr(this.#buffer.slice(0, newline)));
      this.#buffer = this.#buffer.slice(newline + 1);
    }
    // A partial line already too long: emit its full-length pieces now, keep the rest.
    while (this.#buffer.length > this.#maxLineLength) {
      this.#emit(this.#buffer.slice(0, this.#maxLineLength));
      this.#buffer = this.#buffer.slice(this.#maxLineLength);
    }
  }

  #emitSplit(line: string): void {
    let rest = line;
    while (rest.length > this.#maxLineLength) {
      this.#emit(rest.slice(0, this.#maxLineLength));
      rest = rest.slice(this.#maxLineLength);
    }
    this.#emit(rest);
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * The JSON of a `BELAY_PROGRESS` line, as a progress update: `ratio` (a finite number) and
 * `message` (a string) are pulled out, and the whole object is passed as `data` (the same
 * rule as a handler's `ctx.progress(data)`). Anything but a JSON object is not read, and
 * the answer says why, so the task can be told (the line is logged either way).
 */
export function parseProgressLine(text: string): { update: ProgressUpdate } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON (${messageOf(error)})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { error: `not a JSON object (${value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`})` };
  }
  const object = value as { [key: string]: Json };
  const update: ProgressUpdate = { data: object };
  const ratio = object["ratio"];
  if (typeof ratio === "number" && Number.isFinite(ratio)) update.ratio = ratio;
  const message = object["message"];
  if (typeof message === "string") update.message = message;
  return { update };
}

function describeSpawnError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "command not found (ENOENT)";
  if (code === "EACCES") return "permission denied (EACCES)";
  return error.message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
