/**
 * Schedules (DESIGN §7): a job spec made into a job at each time of a cron expression, read in
 * a time zone. This file is the contract, as data (the request, the model); the rules of when a
 * schedule fires are in schedule-rules.ts, kept apart so that the client and the web UI, which
 * import the contract, do not bundle the cron parser.
 */
import type { JsonSchema } from "./json-schema.ts";
import type { Json } from "./model.ts";

export const overlapPolicies = ["skip", "allow", "cancel_previous"] as const;
/** What a firing does while an earlier run of the schedule has not ended. */
export type OverlapPolicy = (typeof overlapPolicies)[number];

export const catchUpPolicies = ["none", "latest"] as const;
/** What a firing found late does: `none` skips it, `latest` makes one run for all it missed. */
export type CatchUpPolicy = (typeof catchUpPolicies)[number];

/**
 * A firing this late is a missed run (the nodes were down, or none polled): the catch-up policy
 * decides whether it still runs. A firing found on time — within a minute — always runs.
 */
export const missedAfterMs = 60_000;

/** Who cancels the previous run of an `overlap: cancel_previous` schedule, in its record. */
export const scheduleRequester = "system:schedule";

/** How the last firing went. */
export type ScheduleOutcome = "submitted" | "skipped_overlap" | "skipped_missed" | "failed";

export interface Schedule {
  id: string;
  name: string;
  /** The principal that created it: its jobs are owned by it. */
  owner: string;
  cron: string;
  /** An IANA time zone, e.g. "Europe/Oslo"; the cron expression is read in it. */
  timeZone: string;
  /** The job spec, as given (templates are expanded at each firing). */
  job: Json;
  /** The spec's queue and labels: what a bulk cancel's filter is compared with (quiesce). */
  queue: string;
  labels: Record<string, string>;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused: boolean;
  pausedBy: string | null;
  pausedAt: string | null;
  /** The next firing; null while paused. */
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJobId: string | null;
  lastOutcome: ScheduleOutcome | null;
  /** Why the last firing failed (its spec no longer valid, its owner no longer allowed…). */
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export const scheduleLimits = Object.freeze({ nameChars: 200, cronChars: 200, timeZoneChars: 100 });

export const createScheduleBody = {
  type: "object",
  required: ["name", "cron", "job"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: scheduleLimits.nameChars, description: "Unique among the caller's schedules" },
    cron: {
      type: "string",
      minLength: 1,
      maxLength: scheduleLimits.cronChars,
      description: 'A cron expression: "minute hour day-of-month month day-of-week" (a leading seconds field is allowed), e.g. "0 2 * * *"',
    },
    timeZone: { type: "string", minLength: 1, maxLength: scheduleLimits.timeZoneChars, description: 'IANA time zone the cron expression is read in, e.g. "Europe/Oslo". Default "UTC".' },
    job: { type: "object", additionalProperties: true, description: "The job spec each firing submits (as POST /jobs takes it)" },
    overlap: { type: "string", enum: overlapPolicies, description: "While an earlier run has not ended: skip the firing (default), allow a second run, or cancel_previous (with a cancellation record, requestedBy system:schedule)" },
    catchUp: {
      type: "string",
      enum: catchUpPolicies,
      description: "A firing found more than a minute late (downtime): none skips it (default), latest makes one run for all the missed ones",
    },
    paused: { type: "boolean", description: "Create it paused. Default false." },
  },
} as const satisfies JsonSchema;

/** The body of `POST /schedules`. */
export interface CreateScheduleRequest {
  name: string;
  cron: string;
  /** Default "UTC". */
  timeZone?: string | undefined;
  job: Record<string, unknown>;
  /** Default "skip". */
  overlap?: OverlapPolicy | undefined;
  /** Default "none". */
  catchUp?: CatchUpPolicy | undefined;
  paused?: boolean | undefined;
}

export interface ParsedSchedule {
  name: string;
  cron: string;
  timeZone: string;
  job: Record<string, unknown>;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  paused: boolean;
}

export const scheduleIdParams = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  properties: { id: { type: "string", minLength: 1, maxLength: scheduleLimits.nameChars, description: "Schedule id, or the caller's schedule name" } },
} as const satisfies JsonSchema;

type Keys<S> = S extends { properties: infer P } ? keyof P : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameFields: Same<keyof CreateScheduleRequest, Keys<typeof createScheduleBody>> = true;
void sameFields;
