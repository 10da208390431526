/**
 * Schedules and queue pauses (DESIGN §7): creating, pausing, resuming and deleting schedules,
 * firing the due ones, and the quiesce of a bulk cancel. The rules (cron, catch-up) are
 * `core/schedules.ts`'s; the store decides which node fires (`claimScheduleFiring`, a
 * compare-and-set on the next firing), so every node may poll and one firing makes one job.
 *
 * A firing submits the schedule's spec as its owner, with the idempotency key
 * `schedule:<id>:<firing ms>`: even a node that fired, died before recording it and was
 * replaced cannot make the same run twice. `overlap: cancel_previous` cancels the earlier
 * runs through the one cancel path (`JobCanceller.cancelJob`), each with its own record,
 * requested by `system:schedule`.
 */
import type { Logger } from "pino";
import { BelayError, isBelayError } from "../core/errors.ts";
import type { Job } from "../core/model.ts";
import type { Principal } from "../core/policy.ts";
import type { ParsedBulkFilter } from "../core/requests.ts";
import { nextRunAfter, parseScheduleRequest, planFiring } from "../core/schedule-rules.ts";
import { scheduleRequester } from "../core/schedules.ts";
import type { Schedule, ScheduleOutcome } from "../core/schedules.ts";
import { jobStatuses, terminalJobStatuses } from "../core/states.ts";
import type { QueuePause, Store, StoredSchedule } from "../store/store.ts";
import type { JobCanceller, QueueView, Quiesced } from "./types.ts";
import { newId } from "./ids.ts";

export interface ScheduleDeps {
  store: Store;
  logger: Logger;
  now: () => string;
  /** Parse and check a job spec as a submit would (policy for `principal`, secrets, runnable), storing nothing. */
  prepare: (input: unknown, owner: string, principal: Principal | undefined) => Promise<Job>;
  /** Submit a job made by a schedule. */
  submit: (input: unknown, options: { owner: string; scheduleId: string }) => Promise<{ job: Job; created: boolean }>;
  canceller: () => JobCanceller;
  /** How often due schedules are looked for, in ms. */
  pollMs: number;
}

const activeStatuses = jobStatuses.filter((s) => !terminalJobStatuses.has(s));

function view(s: StoredSchedule): Schedule {
  const { nextRunMs: _nextRunMs, ...schedule } = s;
  return schedule;
}

export class Schedules {
  private readonly deps: ScheduleDeps;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;

  constructor(deps: ScheduleDeps) {
    this.deps = deps;
  }

  // ---- schedules ------------------------------------------------------------------------

  /** Create a schedule owned by `owner`; its spec is checked now as a submit by `principal` would be. */
  async create(input: unknown, options: { owner: string; principal?: Principal | undefined }): Promise<Schedule> {
    const parsed = parseScheduleRequest(input);
    let probe: Job;
    try {
      probe = await this.deps.prepare(parsed.job, options.owner, options.principal);
    } catch (error) {
      if (!isBelayError(error)) throw error;
      throw new BelayError(error.code, `job: ${error.message}`, { details: { ...error.details, field: `job${typeof error.details?.["field"] === "string" ? `.${error.details["field"]}` : ""}` } });
    }
    const now = this.deps.now();
    const nextRunMs = parsed.paused ? null : nextRunAfter(parsed.cron, parsed.timeZone, Date.parse(now));
    const schedule: StoredSchedule = {
      id: newId(),
      name: parsed.name,
      owner: options.owner,
      cron: parsed.cron,
      timeZone: parsed.timeZone,
      job: parsed.job as Schedule["job"],
      queue: probe.queue,
      labels: probe.labels,
      overlap: parsed.overlap,
      catchUp: parsed.catchUp,
      paused: parsed.paused,
      pausedBy: parsed.paused ? options.owner : null,
      pausedAt: parsed.paused ? now : null,
      nextRunMs,
      nextRunAt: nextRunMs === null ? null : new Date(nextRunMs).toISOString(),
      lastRunAt: null,
      lastJobId: null,
      lastOutcome: null,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.store.insertSchedule(schedule);
    return view(schedule);
  }

  /** A schedule by id, or by name among `owner`'s schedules. */
  async get(idOrName: string, owner?: string): Promise<Schedule> {
    return view(await this.load(idOrName, owner));
  }

  async list(): Promise<Schedule[]> {
    return (await this.deps.store.listSchedules()).map(view);
  }

  /** Stop firing (idempotent); the next firing is cleared, so a resume never replays the paused time. */
  async pause(idOrName: string, options: { by: string; owner?: string | undefined }): Promise<Schedule> {
    const s = await this.load(idOrName, options.owner);
    if (!s.paused) await this.deps.store.setSchedulePaused(s.id, { by: options.by, at: this.deps.now() }, null, this.deps.now());
    return this.get(s.id);
  }

  /** Fire again from the next time after now (idempotent). */
  async resume(idOrName: string, options: { owner?: string | undefined } = {}): Promise<Schedule> {
    const s = await this.load(idOrName, options.owner);
    if (s.paused) {
      const now = this.deps.now();
      await this.deps.store.setSchedulePaused(s.id, null, nextRunAfter(s.cron, s.timeZone, Date.parse(now)), now);
    }
    return this.get(s.id);
  }

  /** Delete a schedule; the jobs it made keep its id. */
  async delete(idOrName: string, options: { owner?: string | undefined } = {}): Promise<Schedule> {
    const s = await this.load(idOrName, options.owner);
    await this.deps.store.deleteSchedule(s.id);
    return view(s);
  }

  private async load(idOrName: string, owner?: string): Promise<StoredSchedule> {
    const s = await this.deps.store.getSchedule(idOrName, owner);
    if (s === null) throw new BelayError("NOT_FOUND", `no schedule ${idOrName}`, { details: { scheduleId: idOrName } });
    return s;
  }

  // ---- queues ---------------------------------------------------------------------------

  async listQueues(): Promise<QueueView[]> {
    const [pauses, counts] = await Promise.all([this.deps.store.listQueuePauses(), this.deps.store.queueCounts()]);
    const byName = new Map<string, QueuePause>(pauses.map((p) => [p.queue, p]));
    const names = [...new Set([...Object.keys(counts), ...byName.keys(), "default"])].sort();
    return names.map((name) => {
      const pause = byName.get(name);
      return {
        name,
        paused: pause !== undefined,
        pausedBy: pause?.pausedBy ?? null,
        pausedAt: pause?.pausedAt ?? null,
        reason: pause?.reason ?? null,
        pending: counts[name]?.pending ?? 0,
        running: counts[name]?.running ?? 0,
      };
    });
  }

  async pauseQueue(name: string, options: { by: string; reason?: string | null | undefined }): Promise<QueueView> {
    checkQueueName(name);
    await this.deps.store.pauseQueue({ queue: name, pausedBy: options.by, pausedAt: this.deps.now(), reason: options.reason ?? null });
    return this.queue(name);
  }

  /** Resume a queue; its waiting tasks are claimed from the next claim round on. */
  async resumeQueue(name: string): Promise<QueueView> {
    checkQueueName(name);
    await this.deps.store.resumeQueue(name);
    return this.queue(name);
  }

  private async queue(name: string): Promise<QueueView> {
    // A resumed queue with no task is known to nobody: it is listed as it is, not paused and empty.
    return (await this.listQueues()).find((q) => q.name === name) ?? { name, paused: false, pausedBy: null, pausedAt: null, reason: null, pending: 0, running: 0 };
  }

  // ---- quiesce (bulk cancel) ------------------------------------------------------------

  /**
   * Pause what produces the jobs a bulk cancel's filter names (DESIGN §7): the queue it names,
   * and each schedule whose jobs it would match — by `scheduleId`, or by the queue, labels and
   * owner of the schedule's spec. A filter naming none of these pauses nothing.
   */
  async quiesce(filter: ParsedBulkFilter, by: string, reason: string): Promise<Quiesced> {
    const quiesced: Quiesced = { schedules: [], queues: [] };
    const names = filter.queue !== undefined || filter.labels !== undefined || filter.owner !== undefined || filter.scheduleId !== undefined;
    if (names) {
      for (const s of await this.deps.store.listSchedules()) {
        if (filter.scheduleId !== undefined && s.id !== filter.scheduleId) continue;
        if (filter.queue !== undefined && s.queue !== filter.queue) continue;
        if (filter.owner !== undefined && s.owner !== filter.owner) continue;
        if (filter.labels !== undefined && Object.entries(filter.labels).some(([k, v]) => s.labels[k] !== v)) continue;
        if (!s.paused) await this.deps.store.setSchedulePaused(s.id, { by, at: this.deps.now() }, null, this.deps.now());
        quiesced.schedules.push({ id: s.id, name: s.name });
      }
    }
    if (filter.queue !== undefined) {
      await this.deps.store.pauseQueue({ queue: filter.queue, pausedBy: by, pausedAt: this.deps.now(), reason });
      quiesced.queues.push(filter.queue);
    }
    return quiesced;
  }

  // ---- firing ---------------------------------------------------------------------------

  start(): void {
    if (this.stopped || this.timer !== null) return;
    const loop = (): void => {
      this.ticking = this.tick()
        .catch((error: unknown) => this.deps.logger.error({ err: error }, "schedule tick failed"))
        .finally(() => {
          this.ticking = null;
          if (!this.stopped) this.timer = setTimeout(loop, this.deps.pollMs).unref();
        });
    };
    this.timer = setTimeout(loop, 0).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.ticking;
  }

  /** Fire every due schedule this node wins the claim of. */
  async tick(nowMs = Date.now()): Promise<void> {
    for (const s of await this.deps.store.dueSchedules(nowMs, 100)) {
      if (this.stopped || s.nextRunMs === null) return;
      const plan = planFiring(s, s.nextRunMs, nowMs);
      if (!(await this.deps.store.claimScheduleFiring(s.id, s.nextRunMs, plan.nextRunMs, this.deps.now()))) continue;
      if (!plan.fire) {
        this.deps.logger.info({ scheduleId: s.id, missedAt: new Date(s.nextRunMs).toISOString() }, "schedule: missed run skipped (catchUp none)");
        await this.record(s, "skipped_missed", null, null);
        continue;
      }
      await this.fire(s, s.nextRunMs);
    }
  }

  private async fire(s: StoredSchedule, firingMs: number): Promise<void> {
    try {
      const { ids: previous } = await this.deps.store.findJobIds({ scheduleId: s.id, status: activeStatuses }, 1000);
      if (previous.length > 0 && s.overlap === "skip") {
        await this.record(s, "skipped_overlap", null, null);
        return;
      }
      if (s.overlap === "cancel_previous") {
        const reason = `schedule "${s.name}": the run of ${new Date(firingMs).toISOString()} replaces it (overlap: cancel_previous)`;
        for (const jobId of previous) {
          try {
            await this.deps.canceller().cancelJob(jobId, { requestedBy: scheduleRequester, reason });
          } catch (error) {
            // A run that ended meanwhile needs no cancel.
            if (!(isBelayError(error) && error.code === "JOB_ALREADY_FINISHED")) throw error;
          }
        }
      }
      const spec = { ...(s.job as Record<string, unknown>), idempotencyKey: `schedule:${s.id}:${firingMs}` };
      const { job } = await this.deps.submit(spec, { owner: s.owner, scheduleId: s.id });
      await this.record(s, "submitted", job.id, null);
    } catch (error) {
      this.deps.logger.warn({ err: error, scheduleId: s.id }, "schedule: firing failed");
      await this.record(s, "failed", null, (error as Error).message);
    }
  }

  private async record(s: StoredSchedule, outcome: ScheduleOutcome, jobId: string | null, error: string | null): Promise<void> {
    await this.deps.store.recordScheduleRun(s.id, { lastRunAt: this.deps.now(), lastJobId: jobId, lastOutcome: outcome, lastError: error });
  }
}

function checkQueueName(name: string): void {
  if (name.length === 0 || name.length > 200) throw new BelayError("INVALID_REQUEST", "queue: a queue name has 1 to 200 characters", { details: { field: "queue" } });
}
