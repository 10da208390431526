/**
 * Recovery of the work of nodes that are gone (DESIGN invariant 7, §6 leases):
 * 1. kill the runner processes a gone node left on this machine, recognised by pid *and*
 *    process start time so a reused pid is never killed; cancel its remote jobs; follow its
 *    Slurm jobs that still run again, as runs of this node (they outlive Belay);
 * 2. resolve the tasks it was running: cancelled if a cancel was requested, else retried
 *    (retries left) or failed;
 * 3. take over the cancellations it was executing, and finish them here.
 *
 * Which nodes are gone depends on the store. A store that is not shared (SQLite) has one
 * engine, so at start every other node is gone. In a shared store (PostgreSQL) a node is gone
 * once it stopped, or its lease expired and one node — the one whose `markNodeDead` won —
 * recovers it; a node that comes back kills on start what its earlier self left behind here.
 */
import type { Logger } from "pino";
import { endAttempt } from "../core/lifecycle.ts";
import { findStep } from "../core/cancellation.ts";
import type { CancellationRecord, Json } from "../core/model.ts";
import { awaitsDrainStop, isDrainRecord } from "../core/drain.ts";
import { killOrphanGroup, killTaskProcesses } from "../runners/proc.ts";
import type { RemoteRunner } from "../runners/remote.ts";
import { slurmJobName, slurmTerminalStates } from "../runners/slurm.ts";
import type { SlurmRunner } from "../runners/slurm.ts";
import type { ActiveRun } from "./active-run.ts";
import type { Runs } from "./runs.ts";
import type { StopPolicy } from "./stop-policy.ts";
import type { ActiveTask, NodeRecord, RunnerRecord, Store } from "../store/store.ts";
import type { CancelExecutor } from "./cancel-executor.ts";
import { goneNodes } from "./cluster/nodes.ts";
import type { JobWriter } from "./job-writer.ts";

export interface RecoveryReport {
  orphanedRunners: number;
  processesKilled: number;
  tasksResolved: number;
  /** In-progress records this node took over. */
  cancellations: number;
  /** Slurm jobs still on the cluster that this node follows again. */
  slurmJobsFollowed: number;
}

export interface RecoveryDeps {
  store: Store;
  /** Every change of a job goes through it. */
  writer: JobWriter;
  logger: Logger;
  now: () => string;
  /** This node as registered: its id, and its host (whose orphans it may kill). */
  node: NodeRecord;
  remote: RemoteRunner | undefined;
  /** This node's executor: it executes the records taken over (already marked as this node's). */
  executor: Pick<CancelExecutor, "execute" | "isExecuting">;
  /** This node's Slurm runner, to reconcile the Slurm jobs of lost runners with the cluster. */
  slurm?: SlurmRunner | undefined;
  /** This node's runs, which take over the Slurm jobs still running. */
  runs: Pick<Runs, "adopt">;
  /** Carries on the stop of a taken-over Slurm job whose cancel was asked before the restart. */
  policy: Pick<StopPolicy, "signal" | "kill" | "stop">;
  /** Finishes bulk records whose node stopped finishing them (cancel-requests.ts). */
  bulk?: { resumeBulk(record: CancellationRecord): Promise<void> };
}

export class Recovery {
  private readonly deps: RecoveryDeps;
  /** How the Slurm jobs of lost runners ended on the cluster, by `jobId/taskKey/attempt`: their attempts end with that, not as lost. */
  private readonly slurmEnds = new Map<string, { outcome: "succeeded" | "failed"; exitCode: number | null; error: string | null; output: Json }>();
  /** The attempts, by `jobId/taskKey/attempt`, whose Slurm job this node follows again: not lost. */
  private readonly adopted = new Set<string>();

  constructor(deps: RecoveryDeps) {
    this.deps = deps;
  }

  /** On open: recover every node that is gone, this machine's orphans first. */
  async onStart(): Promise<RecoveryReport> {
    const { store, node: self } = this.deps;
    const report = emptyReport();
    if (!store.shared) {
      for (const node of await store.listNodes()) {
        if (node.id !== self.id) await store.markNodeDead(node.id, this.deps.now());
      }
    }
    await this.recoverExpired(report);
    const gone = await goneNodes(store, self.id);
    // Rows of this node's own id predate this process (a restart with the same --node-id):
    // at start they are gone too, and on this host.
    const goneAtStart = (id: string | null): boolean => id === self.id || gone.isGone(id);
    const nodeOf = (id: string): NodeRecord | undefined => (id === self.id ? self : gone.byId.get(id));
    for (const runner of await store.liveRunners()) {
      if (goneAtStart(runner.nodeId)) await this.endOrphan(runner, nodeOf(runner.nodeId), report);
    }
    let tasks = (await store.activeTasks()).filter((t) => goneAtStart(t.nodeId) && !this.adopted.has(`${t.jobId}/${t.taskKey}/${t.attempt}`));
    await this.findUnrecordedSlurm(tasks, self.id, report);
    tasks = tasks.filter((t) => !this.adopted.has(`${t.jobId}/${t.taskKey}/${t.attempt}`));
    this.killUnrecorded(tasks.filter((t) => !store.shared || (t.nodeId !== null && nodeOf(t.nodeId)?.hostname === self.hostname)), report);
    report.tasksResolved += await this.resolveLost(tasks);
    await this.adoptRecords(await store.openCancellations(), gone.isGone, true, report);
    this.logReport(report);
    return report;
  }

  /**
   * Periodically (each heartbeat): in a shared store, declare expired nodes dead and recover
   * those this node won; then take over records whose executor is gone.
   */
  async tick(): Promise<void> {
    const report = emptyReport();
    await this.recoverExpired(report);
    const open = (await this.deps.store.openCancellations()).filter((r) => !this.deps.executor.isExecuting(r.id));
    if (open.length > 0) await this.adoptRecords(open, (await goneNodes(this.deps.store, this.deps.node.id)).isGone, false, report);
    this.logReport(report);
  }

  /** Shared store: the nodes whose lease ran out that this node is the one to declare dead. */
  private async recoverExpired(report: RecoveryReport): Promise<void> {
    const { store } = this.deps;
    if (!store.shared) return;
    for (const node of await store.expiredNodes(Date.now())) {
      if (!(await store.markNodeDead(node.id, this.deps.now()))) continue;
      this.deps.logger.warn({ deadNodeId: node.id, hostname: node.hostname, lastHeartbeat: new Date(node.heartbeatMs).toISOString() }, "node lease expired: recovering its tasks");
      await this.recoverNode(node, report);
    }
  }

  private async recoverNode(node: NodeRecord, report: RecoveryReport): Promise<void> {
    for (const runner of await this.deps.store.liveRunners(node.id)) await this.endOrphan(runner, node, report);
    const notAdopted = (t: ActiveTask): boolean => !this.adopted.has(`${t.jobId}/${t.taskKey}/${t.attempt}`);
    let tasks = (await this.deps.store.activeTasks(node.id)).filter(notAdopted);
    await this.findUnrecordedSlurm(tasks, node.id, report);
    tasks = tasks.filter(notAdopted);
    if (node.hostname === this.deps.node.hostname) this.killUnrecorded(tasks, report);
    report.tasksResolved += await this.resolveLost(tasks);
  }

  /** Kill what a gone node left running on this machine, cancel its remote job, and close the runner's row. */
  private async endOrphan(runner: RunnerRecord, node: NodeRecord | undefined, report: RecoveryReport): Promise<void> {
    const { store, logger } = this.deps;
    // A process on another machine is out of reach: its own node kills it if it comes back.
    const here = !store.shared || node?.hostname === this.deps.node.hostname;
    if (runner.remoteId !== null && runner.kind === "slurm") {
      if (await this.reconcileSlurm(runner)) {
        report.slurmJobsFollowed += 1;
        return;
      }
    } else if (runner.remoteId !== null) await this.cancelRemote(runner);
    if (!here && runner.remoteId === null) return;
    report.orphanedRunners += 1;
    if (here && runner.pid !== null && runner.pidStartTime !== null) {
      const { killed } = killOrphanGroup(runner.pid, runner.pidStartTime);
      report.processesKilled += killed;
      if (killed > 0) logger.warn({ jobId: runner.jobId, taskKey: runner.taskKey, pid: runner.pid, killed, deadNodeId: runner.nodeId }, "killed orphaned runner processes");
    }
    await store.endRunner(runner.jobId, runner.taskKey, runner.attempt, { endedAt: this.deps.now(), exitCode: null, outcome: "orphaned: killed on recovery" });
  }

  /**
   * A node can die between spawning a process and storing its pid: no runner row then
   * names it. Such processes are found by the task attempt their environment names.
   */
  private killUnrecorded(tasks: ActiveTask[], report: RecoveryReport): void {
    const { killed } = killTaskProcesses(tasks.map((t) => ({ jobId: t.jobId, taskKey: t.taskKey, attempt: t.attempt })));
    report.processesKilled += killed;
    if (killed > 0) this.deps.logger.warn({ killed }, "killed runner processes that were never recorded");
  }

  /**
   * A Slurm job outlives Belay: ask the cluster how it is. Finished (terminal, or forgotten by
   * squeue but known to scontrol/sacct): the attempt ends as the cluster says — a COMPLETED
   * job keeps its result. Still queued or running (or the cluster does not answer): this node
   * follows it again as its own run, and carries on a cancel asked before the restart.
   * Returns true when it follows the job again.
   */
  private async reconcileSlurm(runner: RunnerRecord): Promise<boolean> {
    const { slurm, logger } = this.deps;
    if (slurm === undefined || runner.remoteId === null) {
      logger.warn({ jobId: runner.jobId, taskKey: runner.taskKey, slurmJobId: runner.remoteId }, "a lost runner's slurm job cannot be reconciled: this node runs no slurm tasks (--slurm)");
      return false;
    }
    const slurmJobId = runner.remoteId;
    const context = { jobId: runner.jobId, taskKey: runner.taskKey, slurmJobId };
    let state: string | undefined;
    try {
      state = (await slurm.cli.states([slurmJobId])).get(slurmJobId);
    } catch (error) {
      // Unknown is not gone: the adopted run's polls retry, and end it if the cluster stays away.
      logger.warn({ err: error, ...context }, "the cluster did not answer for a lost runner's slurm job: following it again");
      state = "UNKNOWN";
    }
    if (state !== undefined && !slurmTerminalStates.has(state)) {
      if (await this.followSlurm(runner, slurmJobId, state)) return true;
      // Its attempt has ended in the store meanwhile: nobody wants the job any more.
      await slurm.cancelOrphan(slurmJobId).catch((error: unknown) => logger.warn({ err: error, ...context }, "could not cancel a slurm job whose attempt has ended"));
      return false;
    }
    const final = await slurm.cli.show(slurmJobId);
    if (final !== null) {
      const output: Json = { slurmJobId, state: final.state, exitCode: final.exitCode };
      this.slurmEnds.set(`${runner.jobId}/${runner.taskKey}/${runner.attempt}`, final.state === "COMPLETED"
        ? { outcome: "succeeded", exitCode: final.exitCode ?? 0, error: null, output }
        : { outcome: "failed", exitCode: final.exitCode, error: `slurm job ${slurmJobId} ended ${final.state} while Belay was down`, output });
    }
    logger.info({ ...context, state: final?.state ?? "gone" }, "reconciled the finished slurm job of a lost runner");
    return false;
  }

  /**
   * A node can die between `sbatch`'s answer and the write of the runner row: no row names the
   * Slurm job then. It is found by its name (`belay.<job>.<task>.<attempt>`, slurmJobName) and
   * reconciled as if the row had been written.
   */
  private async findUnrecordedSlurm(tasks: ActiveTask[], nodeId: string, report: RecoveryReport): Promise<void> {
    const { slurm, store, logger } = this.deps;
    if (slurm === undefined) return;
    for (const t of tasks) {
      const job = await store.getJob(t.jobId);
      if (job?.tasks.find((x) => x.key === t.taskKey)?.kind !== "slurm") continue;
      if ((await store.jobRunners(t.jobId)).some((r) => r.taskKey === t.taskKey && r.attempt === t.attempt)) continue;
      const found = await slurm.cli.byName(slurmJobName(t.jobId, t.taskKey, t.attempt)).catch((error: unknown) => {
        logger.warn({ err: error, jobId: t.jobId, taskKey: t.taskKey }, "could not look a slurm job up by its name");
        return null;
      });
      if (found === null) continue;
      logger.warn({ jobId: t.jobId, taskKey: t.taskKey, slurmJobId: found.id, state: found.state }, "found by its name a slurm job whose runner row was never written");
      const runner: RunnerRecord = {
        jobId: t.jobId, taskKey: t.taskKey, attempt: t.attempt, kind: "slurm", nodeId: t.nodeId ?? nodeId, pid: null, pidStartTime: null,
        remoteId: found.id, workDir: null, startedAt: this.deps.now(), endedAt: null, exitCode: null, outcome: null,
      };
      if (await this.reconcileSlurm(runner)) report.slurmJobsFollowed += 1;
    }
  }

  /** Take the Slurm job's attempt over as a run of this node; false if the attempt has ended meanwhile. */
  private async followSlurm(runner: RunnerRecord, slurmJobId: string, state: string): Promise<boolean> {
    const { writer, node, logger } = this.deps;
    const { value: claimed, job } = await writer.mutate(runner.jobId, (d) => {
      const task = d.tasks.find((t) => t.key === runner.taskKey);
      if (task === undefined || task.attempt !== runner.attempt || (task.status !== "running" && task.status !== "cancelling")) return false;
      // The attempt is this node's now: a cancel is routed here, and this node's lease covers it.
      task.nodeId = node.id;
      d.touchTask(task.key);
      return true;
    });
    const task = job.tasks.find((t) => t.key === runner.taskKey);
    if (!claimed || task === undefined) return false;
    const run = this.deps.runs.adopt(job, task, runner, await this.loggedOutputLines(runner));
    this.adopted.add(`${runner.jobId}/${runner.taskKey}/${runner.attempt}`);
    logger.info({ jobId: runner.jobId, taskKey: runner.taskKey, slurmJobId, state, taskStatus: task.status }, "following a slurm job that outlived the previous engine");
    if (task.status === "cancelling" || job.status === "cancelling") await this.resumeStop(run, runner.jobId, task.key, task.spec.graceMs ?? job.graceMs);
    return true;
  }

  /**
   * A cancel was asked before the restart. Its record is executed again (adoptRecords), but
   * the rungs it had already passed are not repeated by the executor: they are given here to
   * the taken-over run (the TERM again, its grace starting now; or the kill).
   */
  private async resumeStop(run: ActiveRun, jobId: string, key: string, graceMs: number): Promise<void> {
    const record = (await this.deps.store.openCancellations()).find((r) => r.jobId === jobId && r.tasks.some((t) => t.key === key && t.stoppedAt === null));
    if (record === undefined) {
      // failFast or a task cancel already finished: the stop itself was all there was to do.
      this.deps.policy.stop([{ run, graceMs }], { force: false });
      return;
    }
    if (record.force || findStep(record, "force_kill").status !== "pending") this.deps.policy.kill(run);
    else if (findStep(record, "signal_runners").status !== "pending") this.deps.policy.signal(run);
  }

  /** Lines of the attempt's output already in the task log: the taken-over run forwards only what follows. */
  private async loggedOutputLines(runner: RunnerRecord): Promise<number> {
    let count = 0;
    let afterSeq = 0;
    for (;;) {
      const page = await this.deps.store.getLogs(runner.jobId, { taskKey: runner.taskKey, afterSeq, limit: 10_000 });
      for (const line of page) if (line.attempt === runner.attempt && line.stream === "stdout") count += 1;
      if (page.length < 10_000) return count;
      afterSeq = page[page.length - 1]!.seq;
    }
  }

  /** The remote id was stored so that a job whose runner is gone can still be cancelled. */
  private async cancelRemote(runner: RunnerRecord): Promise<void> {
    const adapter = (await this.deps.store.getJob(runner.jobId))?.tasks.find((t) => t.key === runner.taskKey)?.spec.remote?.adapter;
    if (adapter === undefined || this.deps.remote === undefined || runner.remoteId === null) return;
    try {
      await this.deps.remote.cancelOrphan(adapter, runner.remoteId);
      this.deps.logger.info({ jobId: runner.jobId, taskKey: runner.taskKey, remoteId: runner.remoteId }, "cancelled the remote job of a lost runner");
    } catch (error) {
      this.deps.logger.warn({ err: error, jobId: runner.jobId, taskKey: runner.taskKey, remoteId: runner.remoteId }, "could not cancel the remote job of a lost runner");
    }
  }

  /** End each task's attempt as lost: retried if it has retries left and no cancel was asked, else cancelled or failed. */
  private async resolveLost(tasks: ActiveTask[]): Promise<number> {
    const byJob = new Map<string, ActiveTask[]>();
    for (const t of tasks) byJob.set(t.jobId, [...(byJob.get(t.jobId) ?? []), t]);
    let resolved = 0;
    for (const [jobId, lost] of byJob) {
      const { value } = await this.deps.writer.mutate(jobId, (d) => {
        let n = 0;
        for (const ref of lost) {
          const task = d.tasks.find((t) => t.key === ref.taskKey);
          // Re-checked inside the transaction: the attempt may have ended meanwhile.
          if (task === undefined || task.attempt !== ref.attempt || task.nodeId !== ref.nodeId) continue;
          if (task.status !== "running" && task.status !== "cancelling") continue;
          const cancelRequested = task.status === "cancelling" || d.job.status === "cancelling";
          // A drained node that exited before its runner's end was stored: still handed back, not failed.
          const handedBack = !cancelRequested && awaitsDrainStop(d, task.key, task.attempt);
          const clusterEnd = this.slurmEnds.get(`${jobId}/${task.key}/${task.attempt}`);
          if (clusterEnd !== undefined) {
            // The cluster finished it before any cancel reached it: its own end, result kept (DESIGN §3).
            endAttempt(d, task.key, task.attempt, { ...clusterEnd, signalDelivered: false, forced: false });
            n += 1;
            continue;
          }
          endAttempt(d, task.key, task.attempt, {
            outcome: "failed",
            exitCode: null,
            error: `runner lost: node ${ref.nodeId ?? "unknown"} stopped while it ran`,
            output: null,
            signalDelivered: cancelRequested,
            forced: cancelRequested || handedBack,
            interrupted: handedBack,
          });
          n += 1;
        }
        return n;
      });
      resolved += value;
    }
    return resolved;
  }

  /** Take over in-progress job and task records whose executor is gone (or is this node but idle). */
  private async adoptRecords(open: CancellationRecord[], isGone: (id: string | null) => boolean, atStart: boolean, report: RecoveryReport): Promise<void> {
    const nodeId = this.deps.node.id;
    for (const record of open) {
      if (record.scope === "bulk") {
        // A bulk record has no job to lock: whoever may take it over finishes it from its job records.
        const owner = record.executorNodeId;
        if (owner === null ? atStart : owner === nodeId ? atStart : isGone(owner)) {
          void this.deps.bulk?.resumeBulk(record).catch((error: unknown) => this.deps.logger.warn({ err: error, cancellationId: record.id }, "could not finish a bulk cancellation"));
        }
        continue;
      }
      if (record.jobId === null || this.deps.executor.isExecuting(record.id)) continue;
      // A drain's record has no executor: the end of its attempt (resolveLost, here) finishes it.
      if (isDrainRecord(record)) continue;
      const previous = record.executorNodeId;
      // A record without an executor predates executors being recorded: only a start may take it.
      if (previous === null ? !atStart : previous !== nodeId && !isGone(previous)) continue;
      const { value: adopted } = await this.deps.writer.mutate(record.jobId, (d) => {
        const latest = d.cancellation(record.id);
        if (latest === undefined || latest.status !== "in_progress" || latest.executorNodeId !== previous) return null;
        latest.executorNodeId = nodeId;
        d.putCancellation(latest);
        return latest;
      });
      if (adopted === null) continue;
      report.cancellations += 1;
      if (previous !== nodeId) this.deps.logger.info({ jobId: record.jobId, cancellationId: record.id, previousExecutor: previous }, "took over a cancellation in progress");
      void this.deps.executor.execute(adopted);
    }
  }

  private logReport(report: RecoveryReport): void {
    if (report.orphanedRunners + report.tasksResolved + report.cancellations + report.slurmJobsFollowed === 0) return;
    this.deps.logger.info(report, "recovered work of nodes that are gone");
  }
}

function emptyReport(): RecoveryReport {
  return { orphanedRunners: 0, processesKilled: 0, tasksResolved: 0, cancellations: 0, slurmJobsFollowed: 0 };
}
