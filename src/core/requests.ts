/**
 * Validation of the options of cancel, task cancel and bulk cancel requests. The library and
 * the HTTP API share these, so a bad option gets the same INVALID_REQUEST everywhere.
 */
import { invalid } from "./errors.ts";
import { maxReasonLength } from "./cancellation.ts";
import { jobStatuses } from "./states.ts";
import type { JobStatus } from "./states.ts";

export interface CancelJobOptions {
  /** Why; shown in the record. At most 1000 characters. */
  reason?: string | null;
  /** Skip the grace period: force-kill at once. Default false. */
  force?: boolean;
  /** Grace period in ms before runners are force-killed; overrides the job's `graceMs`. */
  graceMs?: number | null;
  /** Refuse (JOB_NOT_PENDING) if the job has started. Default false. */
  onlyIfPending?: boolean;
  /** Resolve only when the job is terminal or `waitMs` has elapsed. Default false. */
  wait?: boolean;
  /** Upper bound of `wait`, in ms. Default 60 000. */
  waitMs?: number;
  /** Who asks (the token's principal). Default "library". */
  requestedBy?: string;
}

export interface CancelTaskOptions extends Omit<CancelJobOptions, "onlyIfPending"> {
  /** Cancel the transitive dependents too. Overrides each edge's `onCancel` when given. */
  cascade?: boolean | null;
}

export interface BulkFilter {
  ids?: string[];
  status?: JobStatus[] | JobStatus;
  queue?: string;
  labels?: Record<string, string>;
  owner?: string;
  createdBefore?: string;
}

export interface BulkCancelOptions {
  filter: BulkFilter;
  dryRun?: boolean;
  idempotencyKey?: string | null;
  reason?: string | null;
  force?: boolean;
  graceMs?: number | null;
  requestedBy?: string;
  /** Size of the sample of matching job ids a dry run returns. Default 10. */
  sampleSize?: number;
}

export interface ParsedCancel {
  reason: string | null;
  force: boolean;
  graceMs: number | null;
  onlyIfPending: boolean;
  wait: boolean;
  waitMs: number;
  requestedBy: string;
  cascade: boolean | null;
}

const maxGraceMs = 24 * 60 * 60 * 1000;
const maxWaitMs = 10 * 60 * 1000;

function optionalBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw invalid(`${field} must be a boolean`, { field });
  return value;
}

function optionalInteger(value: unknown, field: string, max: number): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(`${field} must be an integer from 0 to ${max}`, { field });
  }
  return value;
}

function optionalReason(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalid("reason must be a string", { field: "reason" });
  if (value.length > maxReasonLength) throw invalid(`reason is longer than ${maxReasonLength} characters`, { field: "reason" });
  return value;
}

export function parseCancelOptions(input: unknown): ParsedCancel {
  if (input === undefined || input === null) input = {};
  if (typeof input !== "object" || Array.isArray(input)) throw invalid("cancel options must be an object", { field: "" });
  const o = input as Record<string, unknown>;
  const known = new Set(["reason", "force", "graceMs", "onlyIfPending", "wait", "waitMs", "requestedBy", "cascade"]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) throw invalid(`unknown option "${key}"`, { field: key });
  }
  const requestedBy = o["requestedBy"];
  if (requestedBy !== undefined && (typeof requestedBy !== "string" || requestedBy.length === 0 || requestedBy.length > 200)) {
    throw invalid("requestedBy must be a non-empty string", { field: "requestedBy" });
  }
  const cascade = o["cascade"];
  if (cascade !== undefined && cascade !== null && typeof cascade !== "boolean") throw invalid("cascade must be a boolean", { field: "cascade" });
  return {
    reason: optionalReason(o["reason"]),
    force: optionalBoolean(o["force"], "force", false),
    graceMs: optionalInteger(o["graceMs"], "graceMs", maxGraceMs),
    onlyIfPending: optionalBoolean(o["onlyIfPending"], "onlyIfPending", false),
    wait: optionalBoolean(o["wait"], "wait", false),
    waitMs: optionalInteger(o["waitMs"], "waitMs", maxWaitMs) ?? 60_000,
    requestedBy: (requestedBy as string | undefined) ?? "library",
    cascade: (cascade as boolean | null | undefined) ?? null,
  };
}

export interface ParsedBulkFilter {
  ids?: string[];
  status?: JobStatus[];
  queue?: string;
  labels?: Record<string, string>;
  owner?: string;
  createdBefore?: string;
}

export function parseBulkFilter(input: unknown): ParsedBulkFilter {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw invalid("filter must be an object", { field: "filter" });
  const o = input as Record<string, unknown>;
  const out: ParsedBulkFilter = {};
  const known = new Set(["ids", "status", "queue", "labels", "owner", "createdBefore"]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) throw invalid(`unknown filter field "${key}"`, { field: `filter.${key}` });
  }
  if (o["ids"] !== undefined) {
    const ids = o["ids"];
    if (!Array.isArray(ids) || ids.length > 100_000 || !ids.every((id) => typeof id === "string")) {
      throw invalid("filter.ids must be an array of job ids", { field: "filter.ids" });
    }
    out.ids = ids as string[];
  }
  if (o["status"] !== undefined) {
    const raw = Array.isArray(o["status"]) ? (o["status"] as unknown[]) : [o["status"]];
    for (const s of raw) {
      if (typeof s !== "string" || !(jobStatuses as readonly string[]).includes(s)) {
        throw invalid(`filter.status must be one of ${jobStatuses.join(", ")}`, { field: "filter.status" });
      }
    }
    out.status = raw as JobStatus[];
  }
  for (const field of ["queue", "owner"] as const) {
    const v = o[field];
    if (v !== undefined) {
      if (typeof v !== "string") throw invalid(`filter.${field} must be a string`, { field: `filter.${field}` });
      out[field] = v;
    }
  }
  if (o["createdBefore"] !== undefined) {
    const v = o["createdBefore"];
    if (typeof v !== "string" || Number.isNaN(Date.parse(v))) throw invalid("filter.createdBefore must be an ISO date-time", { field: "filter.createdBefore" });
    out.createdBefore = new Date(v).toISOString();
  }
  if (o["labels"] !== undefined) {
    const v = o["labels"];
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) {
      throw invalid("filter.labels must be a map of strings", { field: "filter.labels" });
    }
    out.labels = { ...(v as Record<string, string>) };
  }
  if (Object.keys(out).length === 0) {
    throw invalid("a bulk cancel needs at least one filter field (ids, status, queue, labels, owner, createdBefore)", { field: "filter" });
  }
  return out;
}
