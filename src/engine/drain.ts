/**
 * Draining this node before it stops (DESIGN §7 "Drain"): claim nothing more, give the runs
 * under way `timeoutMs` to end on their own, then hand the rest back to the queue — each with
 * a record (`requestedBy: "system:drain"`, core/drain.ts), stopped through the `StopPolicy`'s
 * shutdown path (signal, the task's grace, kill) so the attempt goes back to `pending`
 * without using a retry, for another node to run from its last checkpoint.
 */
import type { Logger } from "pino";
import { requestDrainStop } from "../core/drain.ts";
import type { DrainReport } from "../core/drain.ts";
import type { Store } from "../store/store.ts";
import type { ActiveRun } from "./active-run.ts";
import type { EventBus } from "./event-bus.ts";
import { newId } from "./ids.ts";
import type { JobWriter } from "./job-writer.ts";
import type { Runs } from "./runs.ts";
import type { Scheduler } from "./scheduler.ts";
import type { StopPolicy, StopTarget } from "./stop-policy.ts";

export interface DrainerDeps {
  store: Store;
  writer: JobWriter;
  runs: Runs;
  policy: StopPolicy;
  scheduler: Scheduler;
  bus: EventBus;
  logger: Logger;
  nodeId: string;
  now: () => string;
}

export class Drainer {
  private readonly deps: DrainerDeps;
  private drained: Promise<DrainReport> | null = null;
  private hurried = false;
  private endWait: () => void = () => undefined;
  private stopping: StopTarget[] = [];

  constructor(deps: DrainerDeps) {
    this.deps = deps;
  }

  /** True from the first call of `drain`: readiness fails, so a load balancer stops sending. */
  get draining(): boolean {
    return this.drained !== null;
  }

  /** Drain once; a repeat joins the drain under way. */
  drain(timeoutMs: number): Promise<DrainReport> {
    this.drained ??= this.run(timeoutMs);
    return this.drained;
  }

  /**
   * Stop at once (a second SIGTERM): the drain timeout and the tasks' grace are cut short —
   * the runs left are handed back now, killed rather than left to stop on their own.
   */
  hurry(): void {
    this.hurried = true;
    this.endWait();
    if (this.stopping.length > 0) void this.deps.policy.interruptEach(this.stopping.map(({ run }) => ({ run, graceMs: 0 })));
  }

  private async run(timeoutMs: number): Promise<DrainReport> {
    const { scheduler, runs, policy, logger, nodeId, now } = this.deps;
    const startedAt = now();
    scheduler.pauseClaims();
    await scheduler.settled(); // A claim round in flight registers its runs first.
    const running = runs.all();
    logger.info({ nodeId, running: running.length, drainTimeoutMs: timeoutMs }, "draining: claiming stopped, running tasks get the drain timeout to end");

    const ended = new Set<ActiveRun>();
    for (const run of running) void run.done.then(() => ended.add(run));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      this.endWait = resolve;
      timer = setTimeout(resolve, this.hurried ? 0 : timeoutMs);
    });
    await Promise.race([Promise.all(running.map((r) => r.done)), waited]);
    clearTimeout(timer);
    // `done` callbacks run before this line for every run that ended within the timeout.
    await Promise.resolve();
    const left = running.filter((run) => !ended.has(run));

    const targets: StopTarget[] = [];
    const recordIds: string[] = [];
    for (const run of left) {
      const { value: record } = await this.deps.writer.mutate(run.jobId, (d) => requestDrainStop(d, newId(), run.key, run.attempt, nodeId)).catch((error: unknown) => {
        logger.error({ err: error, jobId: run.jobId, taskKey: run.key }, "could not record a drain stop; the task is interrupted without one");
        return { value: null };
      });
      if (record !== null) recordIds.push(record.id);
      targets.push({ run, graceMs: this.hurried ? 0 : record?.graceMs ?? 0 });
    }
    this.stopping = targets;
    await policy.interruptEach(targets);

    let handedBack = 0;
    let finishedFirst = 0;
    for (const id of recordIds) {
      const record = await this.deps.store.getCancellation(id).catch(() => null);
      if (record?.affectedTasks.some((a) => a.to === "pending") === true) handedBack += 1;
      else finishedFirst += 1;
    }
    const report: DrainReport = {
      nodeId,
      timeoutMs,
      startedAt,
      finishedAt: now(),
      running: running.length,
      finished: running.length - left.length,
      handedBack,
      // Stopped by the drain but ended otherwise: on their own just before the signal, or by a cancel under way.
      stoppedOtherwise: left.length - handedBack,
      cancellationIds: recordIds,
    };
    if (finishedFirst > 0) logger.info({ nodeId, finishedFirst }, "draining: some tasks ended on their own as they were being handed back");
    logger.info(report, "drained");
    this.deps.bus.emitNode({
      specversion: "1.0",
      id: `drained:${nodeId}:${report.finishedAt}`,
      source: "belay",
      type: "belay.node.drained",
      subject: nodeId,
      time: report.finishedAt,
      datacontenttype: "application/json",
      data: report,
    });
    return report;
  }
}
