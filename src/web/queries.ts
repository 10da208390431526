/**
 * Requests of the pages added for issue 15 (the job list's name and time filters, pools),
 * through the same `api` as every other request.
 */
import { belay } from "./api.ts";
import type { Job, Page } from "./api.ts";
import type { Pool, Queue, Schedule } from "../client/types.ts";

export type { Pool, PoolHolder, Queue, Schedule } from "../client/types.ts";

export interface JobQuery {
  status?: string;
  queue?: string;
  owner?: string;
  /** Case-insensitive substring of the name. */
  name?: string;
  /** `key=value`; every one must match. */
  labels?: string[];
  createdAfter?: string | null;
  limit?: number;
  cursor?: string | null;
}

export function listJobs(params: JobQuery, signal?: AbortSignal): Promise<Page<Job>> {
  return belay.searchJobs(params, signal);
}

/** The time windows of the boards' "Submitted" filter. */
export const timeWindows: Record<string, { label: string; ms: number }> = {
  "15m": { label: "the last 15 minutes", ms: 15 * 60_000 },
  "1h": { label: "the last hour", ms: 3600_000 },
  "24h": { label: "the last 24 hours", ms: 24 * 3600_000 },
  "7d": { label: "the last 7 days", ms: 7 * 24 * 3600_000 },
  "30d": { label: "the last 30 days", ms: 30 * 24 * 3600_000 },
};

export function windowStart(key: string, now = Date.now()): string | null {
  const w = timeWindows[key];
  return w === undefined ? null : new Date(now - w.ms).toISOString();
}

/** "team=ml env=prod" (spaces or commas between pairs) → ["team=ml", "env=prod"]; null when a part is not key=value. */
export function parseLabelInput(text: string): string[] | null {
  const parts = text.split(/[\s,]+/).filter((p) => p !== "");
  return parts.every((p) => p.indexOf("=") > 0) ? parts : null;
}

export function listPools(signal?: AbortSignal): Promise<Pool[]> {
  return belay.listPools(signal);
}

export function listSchedules(signal?: AbortSignal): Promise<Schedule[]> {
  return belay.listSchedules(signal);
}

export function listQueues(signal?: AbortSignal): Promise<Queue[]> {
  return belay.listQueues(signal);
}
