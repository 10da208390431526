/**
 * Runs `slurm` tasks as batch jobs of a Slurm cluster, through the cluster's own CLI
 * (`sbatch`, `squeue`, `scontrol`, `scancel`) on this node's PATH (docs/slurm.md says why
 * the CLI and not slurmrestd).
 *
 * - `start` submits with `sbatch --parsable` and resolves with the Slurm job id as the
 *   runner's `remoteId`: the engine stores it before anything else, so a restarted Belay
 *   finds the job again (src/engine/recovery.ts).
 * - One `squeue` per poll covers every job this runner tracks; a job that reached a terminal
 *   state is read once with `scontrol show job` for its exit code.
 * - The job's output file (on the path the cluster shares with Belay) is tailed into the
 *   task log; `BELAY_PROGRESS {…}` lines become progress updates.
 * - `signal()`: a pending job is removed from the queue (`scancel`); a running one gets
 *   `scancel --signal=TERM --full` (the batch shell and its steps). A job already finished
 *   when the cancel came keeps its result (DESIGN §3): `finishedBeforeSignal`.
 * - `kill()`: `scancel` (Slurm's SIGTERM, then SIGKILL after `KillWait`), then waits until the
 *   job leaves. A refused `scancel` ends the attempt at once with `remoteCancel.cancelled =
 *   false` (the stop is `remote_refused`); a job that does not leave, with `stopped = false`.
 *   Either way the record stays `partial` and src/engine/remote-follow-up.ts retries the
 *   `scancel` (`cancelAgain`) and polls the job (`pollStopped`) until it has ended.
 * - `reattach()`: a restarted Belay follows a job still on the cluster again (recovery).
 */
import { execFile } from "node:child_process";
import { closeSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SlurmSpec } from "../core/model.ts";
import { parseProgressLine, PROGRESS_PREFIX } from "./process.ts";
import type { RemoteCancelResult, RunContext, Runner, RunnerExit, RunnerIdentity, RunningTask } from "./types.ts";

/** Slurm job states (squeue `%T`) that end a job. */
const terminalStates = new Set([
  "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
]);

/** Slurm job states (squeue `%T`) of a job that has started running on a node. */
const startedStates = new Set(["RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"]);

export type SlurmCancelFailure = "scancel_failed" | "job_did_not_leave";

/**
 * Slurm cancels that failed in this process, by reason: read by the server's
 * `belay_slurm_cancel_failures_total` (counters count what this process saw).
 */
export const slurmCancelFailures: Record<SlurmCancelFailure, number> = { scancel_failed: 0, job_did_not_leave: 0 };

export interface SlurmRunnerOptions {
  /** Delay between two polls of the cluster. Default 500 ms. */
  pollIntervalMs?: number;
  /** How long to wait for a job to leave after the final `scancel`. Default 30 000 ms (above Slurm's KillWait). */
  leaveTimeoutMs?: number;
  /**
   * How long squeue may fail in a row before a job's task is given up as failed. Default
   * 300 000 ms: a controller restarting or a network blip must not fail tasks whose jobs run on.
   */
  unreachableGiveUpMs?: number;
  /** Environment of the Slurm commands (PATH, SLURM_CONF). Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Counts each `scancel` that failed or job that would not leave (`belay_slurm_cancel_failures_total`). */
  onCancelFailure?: (reason: "scancel_failed" | "job_did_not_leave") => void;
}

export interface SlurmJobState {
  state: string;
  /** `ExitCode=a:b` of scontrol: the batch script's exit code and the signal that ended it. */
  exitCode: number | null;
  exitSignal: number | null;
  reason: string | null;
}

/** The Slurm CLI, each call bounded; throws with the command's stderr on failure. */
export class SlurmCli {
  readonly #env: NodeJS.ProcessEnv;
  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.#env = env;
  }

  run(program: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(program, args, { env: options.env ?? this.#env, timeout: options.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${program} ${args.join(" ")}: ${(stderr.trim() || error.message).slice(0, 500)}`));
        else resolve(stdout);
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  }

  /** States of these jobs as squeue knows them (`-t all`: recently finished too); a job missing from the map is unknown to squeue. */
  async states(ids: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (ids.length === 0) return found;
    let out: string;
    try {
      out = await this.run("squeue", ["-h", "-t", "all", "-j", ids.join(","), "-o", "%i|%T"]);
    } catch (error) {
      // squeue fails the whole call when one id is no longer known: ask for each then.
      if (ids.length === 1 || !/Invalid job id/i.test((error as Error).message)) {
        if (/Invalid job id/i.test((error as Error).message)) return found;
        throw error;
      }
      for (const id of ids) for (const [k, v] of await this.states([id])) found.set(k, v);
      return found;
    }
    for (const line of out.split("\n")) {
      const [id, state] = line.trim().split("|");
      if (id && state) found.set(id, state.split(" ")[0]!);
    }
    return found;
  }

  /** The newest job of this name and its state (squeue `-t all`), or null when squeue knows none. */
  async byName(name: string): Promise<{ id: string; state: string } | null> {
    const out = await this.run("squeue", ["-h", "-t", "all", "-n", name, "-o", "%i|%T"]);
    const jobs = out.split("\n").map((l) => l.trim().split("|")).filter((f) => /^\d+$/.test(f[0] ?? "") && f[1] !== undefined);
    jobs.sort((a, b) => Number(b[0]) - Number(a[0]));
    return jobs[0] === undefined ? null : { id: jobs[0][0]!, state: jobs[0][1]!.split(" ")[0]! };
  }

  /** `scontrol show job` (then `sacct`, where accounting exists); null when the cluster has forgotten the job. */
  async show(id: string): Promise<SlurmJobState | null> {
    try {
      const out = await this.run("scontrol", ["show", "job", "-o", id]);
      const field = (name: string): string | null => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(out)?.[1] ?? null;
      const [code, sig] = (field("ExitCode") ?? "").split(":");
      return { state: field("JobState") ?? "UNKNOWN", exitCode: toInt(code), exitSignal: toInt(sig), reason: field("Reason") };
    } catch {
      try {
        const out = (await this.run("sacct", ["-n", "-P", "-X", "-j", id, "-o", "State,ExitCode"])).trim();
        if (out === "") return null;
        const [state, exit] = out.split("\n")[0]!.split("|");
        const [code, sig] = (exit ?? "").split(":");
        return { state: (state ?? "UNKNOWN").split(" ")[0]!, exitCode: toInt(code), exitSignal: toInt(sig), reason: null };
      } catch {
        return null;
      }
    }
  }
}

function toInt(text: string | undefined): number | null {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? n : null;
}

/** The Slurm job name of an attempt: how recovery finds a job submitted just before a crash. */
export function slurmJobName(jobId: string, taskKey: string, attempt: number): string {
  return `belay.${jobId}.${taskKey}.${attempt}`;
}

/** The sbatch arguments of a task (the script, if any, goes to stdin). */
export function sbatchArgs(spec: SlurmSpec, name: string, outputPath: string, workDir: string): string[] {
  const args = ["--parsable", `--job-name=${name}`, `--output=${outputPath}`, `--chdir=${workDir}`, "--export=ALL"];
  if (spec.partition !== undefined) args.push(`--partition=${spec.partition}`);
  if (spec.time !== undefined) args.push(`--time=${spec.time}`);
  if (spec.cpus !== undefined) args.push(`--cpus-per-task=${spec.cpus}`);
  if (spec.memory !== undefined) args.push(`--mem=${spec.memory}`);
  if (spec.gres !== undefined) args.push(`--gres=${spec.gres}`);
  args.push(...(spec.sbatchArgs ?? []));
  if (spec.command !== undefined) args.push(`--wrap=${spec.command}`);
  return args;
}

export class SlurmRunner implements Runner {
  readonly cli: SlurmCli;
  readonly #options: Required<Omit<SlurmRunnerOptions, "env" | "onCancelFailure">> & { onCancelFailure: SlurmRunnerOptions["onCancelFailure"] | undefined };
  readonly #env: NodeJS.ProcessEnv;
  readonly #tracked = new Map<string, SlurmTask>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  constructor(options: SlurmRunnerOptions = {}) {
    this.#env = options.env ?? process.env;
    this.cli = new SlurmCli(this.#env);
    this.#options = {
      pollIntervalMs: options.pollIntervalMs ?? 500,
      leaveTimeoutMs: options.leaveTimeoutMs ?? 30_000,
      unreachableGiveUpMs: options.unreachableGiveUpMs ?? 300_000,
      onCancelFailure: options.onCancelFailure,
    };
  }

  async start(ctx: RunContext): Promise<RunningTask> {
    if (this.#closed) throw new Error("slurm runner is closed");
    const spec = ctx.spec.slurm;
    if (spec === undefined) throw new Error(`task ${ctx.taskKey} has no slurm spec`);
    // Both on the path the cluster's nodes share with Belay (docs/slurm.md): the job writes its
    // output into the one and its artifacts into the other.
    mkdirSync(ctx.workDir, { recursive: true });
    mkdirSync(ctx.artifactsDir, { recursive: true });
    const outputPath = join(ctx.workDir, "slurm.out");
    // Only what the job needs: the server's own environment (its tokens) stays out of the job.
    const env: NodeJS.ProcessEnv = {
      PATH: this.#env["PATH"] ?? "/usr/bin:/bin",
      ...(this.#env["SLURM_CONF"] === undefined ? {} : { SLURM_CONF: this.#env["SLURM_CONF"] }),
      ...(this.#env["HOME"] === undefined ? {} : { HOME: this.#env["HOME"] }),
      LANG: this.#env["LANG"] ?? "C.UTF-8",
      ...spec.env,
      BELAY_JOB_ID: ctx.jobId,
      BELAY_TASK_KEY: ctx.taskKey,
      BELAY_ATTEMPT: String(ctx.attempt),
      BELAY_WORK_DIR: ctx.workDir,
      BELAY_ARTIFACTS: ctx.artifactsDir,
    };
    const name = slurmJobName(ctx.jobId, ctx.taskKey, ctx.attempt);
    const out = await this.cli.run("sbatch", sbatchArgs(spec, name, outputPath, ctx.workDir), { env, ...(spec.script === undefined ? {} : { input: spec.script }) });
    const slurmId = out.trim().split(";")[0] ?? "";
    if (!/^\d+$/.test(slurmId)) throw new Error(`sbatch answered ${JSON.stringify(out.trim().slice(0, 200))}, not a job id`);
    return this.#track(new SlurmTask(this, slurmId, ctx, outputPath, null));
  }

  /**
   * Follow again a job a previous Belay submitted and did not see end (recovery): its status,
   * and its output from the line after the `skipLines` already in the task log.
   */
  reattach(ctx: RunContext, slurmId: string, skipLines: number): RunningTask {
    if (this.#closed) throw new Error("slurm runner is closed");
    return this.#track(new SlurmTask(this, slurmId, ctx, join(ctx.workDir, "slurm.out"), skipLines));
  }

  #track(task: SlurmTask): SlurmTask {
    this.#tracked.set(task.slurmId, task);
    void task.exited.then(() => this.#tracked.delete(task.slurmId));
    this.#schedule();
    return task;
  }

  /**
   * The follow-up of a cancel that did not stop the job for sure (src/engine/remote-follow-up.ts):
   * the job's state, ended once Slurm will not run it any more (or has forgotten it).
   */
  async pollStopped(slurmId: string): Promise<{ ended: boolean; state: string }> {
    const state = (await this.cli.states([slurmId])).get(slurmId);
    if (state !== undefined) return { ended: terminalStates.has(state), state };
    return { ended: true, state: (await this.cli.show(slurmId))?.state ?? "GONE" };
  }

  /** The follow-up's retry: the final rung again, `scancel` (Slurm's TERM, then KILL after KillWait). Throws when it fails. */
  async cancelAgain(slurmId: string): Promise<void> {
    try {
      await this.cli.run("scancel", [slurmId]);
    } catch (error) {
      this.cancelFailed("scancel_failed");
      throw error;
    }
  }

  get leaveTimeoutMs(): number {
    return this.#options.leaveTimeoutMs;
  }

  get unreachableGiveUpMs(): number {
    return this.#options.unreachableGiveUpMs;
  }

  cancelFailed(reason: SlurmCancelFailure): void {
    slurmCancelFailures[reason] += 1;
    try {
      this.#options.onCancelFailure?.(reason);
    } catch {
      // A failing metric must not break the runner.
    }
  }

  /**
   * Cancel a job nobody wants any more (recovery: its attempt ended while its runner was
   * gone): `scancel` at once, with no grace — the stop with a grace is the runner's `kill`
   * under the stop policy. Resolves with the job's final state, or throws if the cluster
   * refuses or the job does not leave.
   */
  async cancelOrphan(slurmId: string): Promise<SlurmJobState | null> {
    const before = (await this.cli.states([slurmId])).get(slurmId);
    if (before === undefined || terminalStates.has(before)) return this.cli.show(slurmId);
    try {
      await this.cli.run("scancel", [slurmId]);
    } catch (error) {
      this.cancelFailed("scancel_failed");
      throw error;
    }
    if (!(await this.waitTerminal(slurmId, this.#options.leaveTimeoutMs))) {
      this.cancelFailed("job_did_not_leave");
      throw new Error(`slurm job ${slurmId} did not leave within ${this.#options.leaveTimeoutMs} ms of scancel`);
    }
    return this.cli.show(slurmId);
  }

  /** Resolves true once the job is terminal (or forgotten), false after `timeoutMs`. */
  async waitTerminal(slurmId: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = (await this.cli.states([slurmId]).catch(() => new Map<string, string>([[slurmId, "UNKNOWN"]]))).get(slurmId);
      if (state === undefined || terminalStates.has(state)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.#options.pollIntervalMs, 250)));
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || this.#tracked.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#poll().finally(() => this.#schedule());
    }, this.#options.pollIntervalMs);
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const tasks = [...this.#tracked.values()];
      let states: Map<string, string>;
      try {
        states = await this.cli.states(tasks.map((t) => t.slurmId));
      } catch (error) {
        for (const task of tasks) task.pollFailed(error as Error);
        return;
      }
      await Promise.all(tasks.map((task) => task.observe(states.get(task.slurmId) ?? null)));
    } finally {
      this.#polling = false;
    }
  }

  /** Stops tracking; the cluster's jobs keep running, and recovery reconciles them on the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const task of this.#tracked.values()) task.abandon("slurm runner closed");
  }
}

export { terminalStates as slurmTerminalStates };

class SlurmTask implements RunningTask {
  readonly identity: RunnerIdentity;
  readonly exited: Promise<RunnerExit>;
  readonly slurmId: string;
  remoteCancel?: RemoteCancelResult;
  readonly #runner: SlurmRunner;
  readonly #ctx: RunContext;
  readonly #outputPath: string;
  #offset = 0;
  #partial = "";
  #state = "PENDING";
  /** Seen running since it last queued: a later PENDING / REQUEUE* is a requeue. */
  #ranSinceQueued = false;
  #done = false;
  #killRequested = false;
  #finishedBeforeSignal = false;
  #pollFailures = 0;
  #pollFailingSinceMs: number | null = null;
  /** Lines of the output file already in the task log (a job followed again after a restart). */
  #skipLines: number;
  #resolveExited!: (exit: RunnerExit) => void;

  constructor(runner: SlurmRunner, slurmId: string, ctx: RunContext, outputPath: string, skipLines: number | null) {
    this.#runner = runner;
    this.slurmId = slurmId;
    this.#ctx = ctx;
    this.#outputPath = outputPath;
    this.#skipLines = skipLines ?? 0;
    this.identity = { pid: null, pidStartTime: null, remoteId: slurmId };
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
    this.#log(skipLines === null ? `slurm job ${slurmId} submitted` : `slurm job ${slurmId} followed again after a restart of Belay (${skipLines} output lines already in the log)`);
  }

  async signal(): Promise<boolean> {
    if (this.#done) return false;
    const state = (await this.#runner.cli.states([this.slurmId]).catch(() => new Map<string, string>())).get(this.slurmId) ?? this.#state;
    if (terminalStates.has(state)) {
      // It ended before the cancel reached it: it keeps its result (DESIGN §3).
      this.#finishedBeforeSignal = true;
      this.#log(`cancel: slurm job ${this.slurmId} had already ended (${state})`);
      return false;
    }
    // On a busy host the query can outlast the grace: a force already sent supersedes the TERM.
    if (this.#killRequested || this.#done) return false;
    const args = state === "PENDING" ? [this.slurmId] : ["--signal=TERM", "--full", this.slurmId];
    try {
      await this.#runner.cli.run("scancel", args);
      this.remoteCancel = { attempted: true, cancelled: true, error: null, remoteId: this.slurmId };
      this.#log(`cancel: scancel ${args.join(" ")} accepted (job was ${state})`);
      return true;
    } catch (error) {
      this.#runner.cancelFailed("scancel_failed");
      this.remoteCancel = { attempted: true, cancelled: false, error: (error as Error).message, remoteId: this.slurmId };
      this.#log(`cancel: scancel ${args.join(" ")} failed: ${(error as Error).message}`);
      return false;
    }
  }

  async kill(): Promise<void> {
    if (this.#done || this.#killRequested) return this.exited.then(() => undefined);
    this.#killRequested = true;
    try {
      await this.#runner.cli.run("scancel", [this.slurmId]);
      // Accepted now, whatever became of the TERM before (it may have been refused).
      this.remoteCancel = { attempted: true, cancelled: true, error: null, remoteId: this.slurmId };
      this.#log(`force: scancel ${this.slurmId} accepted (Slurm sends SIGKILL after KillWait)`);
    } catch (error) {
      this.#runner.cancelFailed("scancel_failed");
      this.remoteCancel = { attempted: true, cancelled: false, error: (error as Error).message, remoteId: this.slurmId };
      this.#log(`force: scancel ${this.slurmId} failed: ${(error as Error).message}`);
      // The cluster refused the stop: waiting for the job to leave would only wait out its run.
      // The local attempt ends now; the record stays partial and the follow-up retries the
      // scancel and polls the job until it has ended (src/engine/remote-follow-up.ts).
      this.#finish({ outcome: "failed", exitCode: null, signal: null, error: `slurm refused the cancel: ${(error as Error).message}`, output: null, forced: true });
      return;
    }
    // The runner's shared poll sees the job leave: one squeue for all jobs, not one per job.
    let timer: NodeJS.Timeout | undefined;
    const left = await Promise.race([this.exited.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.#runner.leaveTimeoutMs)))]);
    clearTimeout(timer);
    if (left) return;
    this.#runner.cancelFailed("job_did_not_leave");
    const error = `slurm job ${this.slurmId} did not leave the cluster within ${this.#runner.leaveTimeoutMs} ms of scancel`;
    // Accepted, not seen to end: the record stays partial while the follow-up polls the job.
    this.remoteCancel = { attempted: true, cancelled: true, error, remoteId: this.slurmId, stopped: false };
    this.#finish({ outcome: "failed", exitCode: null, signal: null, error, output: null, forced: true });
  }

  abandon(reason: string): void {
    this.#finish({ outcome: "failed", exitCode: null, signal: null, error: reason, output: null, forced: this.#killRequested });
  }

  pollFailed(error: Error): void {
    this.#pollFailures += 1;
    this.#pollFailingSinceMs ??= Date.now();
    const failingMs = Date.now() - this.#pollFailingSinceMs;
    // One line for the first failure and then about one in ten: the log is not flooded.
    if (this.#pollFailures % 10 === 1) this.#log(`squeue failed (${this.#pollFailures} time(s) in a row, for ${failingMs} ms): ${error.message}`);
    if (failingMs >= this.#runner.unreachableGiveUpMs) this.abandon(`slurm poll failed for ${failingMs} ms: ${error.message}`);
  }

  /** One poll's answer: `null` when squeue no longer knows the job. */
  async observe(state: string | null): Promise<void> {
    if (this.#done) return;
    this.#pollFailures = 0;
    this.#pollFailingSinceMs = null;
    this.#readOutput(false);
    if (state !== null && !terminalStates.has(state)) {
      // Requeued (a node failed, preemption, `scontrol requeue`): the same job id queues and
      // runs again; the task stays running, and its output restarts (#readOutput).
      // The poll may see RUNNING, then COMPLETING while the old run is killed, then PENDING:
      // what marks a requeue is queueing again after having run, whatever was seen between.
      const queued = state === "PENDING" || state.startsWith("REQUEUE");
      if (queued && this.#ranSinceQueued) this.#log(`slurm job ${this.slurmId} was requeued by the cluster (${state}): it will run again`);
      if (queued) this.#ranSinceQueued = false;
      if (startedStates.has(state)) this.#ranSinceQueued = true;
      this.#state = state;
      return;
    }
    const shown = await this.#runner.cli.show(this.slurmId);
    this.#readOutput(true);
    const final = shown?.state ?? state ?? "UNKNOWN";
    // A cancel's job seen to end: it has stopped for sure, whether TERM or the final scancel ended it.
    if (this.remoteCancel !== undefined) this.remoteCancel = { ...this.remoteCancel, stopped: true, finalState: final };
    const output = { slurmJobId: this.slurmId, state: final, exitCode: shown?.exitCode ?? null };
    if (final === "COMPLETED") {
      this.#finish({ outcome: "succeeded", exitCode: shown?.exitCode ?? 0, signal: null, error: null, output, forced: this.#killRequested });
    } else {
      const why = shown === null ? `slurm job ${this.slurmId} is gone from the cluster` : `slurm job ${this.slurmId} ended ${final}${shown.reason !== null && shown.reason !== "None" ? ` (${shown.reason})` : ""}`;
      this.#finish({ outcome: "failed", exitCode: shown?.exitCode ?? null, signal: shown?.exitSignal ? `signal ${shown.exitSignal}` : null, error: why, output, forced: this.#killRequested });
    }
  }

  /** Forward the output file's new complete lines (all of it at the end). */
  #readOutput(atEnd: boolean): void {
    let fd: number;
    try {
      const size = statSync(this.#outputPath).size;
      if (size < this.#offset) {
        // A requeued job's new run truncates the output file: read it from its start again.
        this.#log(`slurm job ${this.slurmId}: its output file restarted (a new run after a requeue)`);
        this.#offset = 0;
        this.#partial = "";
        this.#skipLines = 0;
      }
      if (size <= this.#offset) {
        if (atEnd) this.#flushPartial();
        return;
      }
      // New output: the job has run, whether or not a poll caught it RUNNING.
      this.#ranSinceQueued = true;
      fd = openSync(this.#outputPath, "r");
    } catch {
      return;
    }
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const lines = (this.#partial + buffer.subarray(0, n).toString("utf8")).split("\n");
        this.#partial = lines.pop() ?? "";
        for (const line of lines) this.#line(line);
      }
    } finally {
      closeSync(fd);
    }
    if (atEnd) this.#flushPartial();
  }

  #progressWarned = false;

  #flushPartial(): void {
    if (this.#partial !== "") this.#line(this.#partial);
    this.#partial = "";
  }

  #line(line: string): void {
    if (this.#skipLines > 0) {
      this.#skipLines -= 1;
      return;
    }
    try {
      if (line.startsWith(PROGRESS_PREFIX)) {
        const parsed = parseProgressLine(line.slice(PROGRESS_PREFIX.length));
        if ("update" in parsed) this.#ctx.onProgress(parsed.update);
        else if (!this.#progressWarned) {
          // Once per attempt, as for a process task: the line stays in the log, one warning says why.
          this.#progressWarned = true;
          this.#ctx.onWarning?.(`a BELAY_PROGRESS line was not read as progress: ${parsed.error}; it is kept as a log line (later bad lines are not reported)`);
        }
      }
      this.#ctx.onLog("stdout", line);
    } catch {
      // A failing callback must not break the runner.
    }
  }

  #finish(exit: RunnerExit): void {
    if (this.#done) return;
    this.#done = true;
    this.#resolveExited({ ...exit, ...(this.#finishedBeforeSignal ? { finishedBeforeSignal: true } : {}) });
  }

  #log(line: string): void {
    try {
      this.#ctx.onLog("log", line);
    } catch {
      // A failing callback must not break the runner.
    }
  }
}
