/**
 * When a schedule fires (DESIGN §7): the next run after a moment, and what a firing found late
 * (after downtime) does. Cron expressions are parsed by croner (a maintained library with
 * time-zone support and no dependencies), never by hand: five fields (minute hour
 * day-of-month month day-of-week), or six with seconds first; `@daily`-style nicknames too.
 */
import { Cron } from "croner";
import { invalid } from "./errors.ts";
import { validate } from "./json-schema.ts";
import { createScheduleBody, missedAfterMs } from "./schedules.ts";
import type { CreateScheduleRequest, ParsedSchedule, Schedule } from "./schedules.ts";

/** A time zone the runtime knows (IANA names), or an INVALID_REQUEST naming the field. */
export function checkTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw invalid(`timeZone: "${timeZone}" is not a known IANA time zone (e.g. "UTC", "Europe/Oslo", "America/New_York")`, { field: "timeZone" });
  }
}

function cronOf(cron: string, timeZone: string): Cron {
  try {
    return new Cron(cron, { timezone: timeZone, paused: true });
  } catch (error) {
    throw invalid(`cron: "${cron}" is not a cron expression: ${(error as Error).message} (expected "minute hour day-of-month month day-of-week", e.g. "0 2 * * *")`, {
      field: "cron",
    });
  }
}

/** A schedule request checked against the contract, its cron expression and time zone parsed. */
export function parseScheduleRequest(input: unknown): ParsedSchedule {
  const o = validate(createScheduleBody, input ?? {}) as CreateScheduleRequest;
  const timeZone = o.timeZone ?? "UTC";
  checkTimeZone(timeZone);
  const cron = o.cron.trim();
  if (nextRunAfter(cron, timeZone, Date.now()) === null) throw invalid(`cron: "${cron}" never fires`, { field: "cron" });
  return { name: o.name, cron, timeZone, job: o.job, overlap: o.overlap ?? "skip", catchUp: o.catchUp ?? "none", paused: o.paused ?? false };
}

/** The first firing strictly after `afterMs` (epoch ms), or null if the expression never fires again. */
export function nextRunAfter(cron: string, timeZone: string, afterMs: number): number | null {
  const next = cronOf(cron, timeZone).nextRun(new Date(afterMs));
  return next === null ? null : next.getTime();
}

/** The next `count` firings after `afterMs`, as ISO times (previews: the CLI and the UI show them). */
export function nextRunsAfter(cron: string, timeZone: string, afterMs: number, count: number): string[] {
  return cronOf(cron, timeZone)
    .nextRuns(count, new Date(afterMs))
    .map((d) => d.toISOString());
}

/** What a node does with a due schedule: fire it or not, and where its next firing moves. */
export interface FiringPlan {
  /** Make a job now. */
  fire: boolean;
  /** The firing was found more than `missedAfterMs` late. */
  missed: boolean;
  /** The next firing after now: every missed one is passed over (at most one catch-up run). */
  nextRunMs: number | null;
}

/**
 * The rule for a schedule whose next firing (`dueMs`) is at or before `nowMs`: a firing on
 * time runs; a late one (downtime) runs only with `catchUp: "latest"`, once however many were
 * missed. The next firing is the first after now, so a restart never replays a backlog.
 */
export function planFiring(schedule: Pick<Schedule, "cron" | "timeZone" | "catchUp">, dueMs: number, nowMs: number): FiringPlan {
  const missed = nowMs - dueMs > missedAfterMs;
  return {
    fire: !missed || schedule.catchUp === "latest",
    missed,
    nextRunMs: nextRunAfter(schedule.cron, schedule.timeZone, nowMs),
  };
}
