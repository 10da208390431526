/**
 * Parsers of option and argument values. A bad value is a usage error (commander's
 * InvalidArgumentError, exit 2), caught before any request is sent.
 */
import { InvalidArgumentError } from "commander";
import type { CancellationStatus } from "../core/model.ts";
import { characterCount } from "../core/json-schema.ts";
import { cancellationStatuses, requestLimits } from "../core/requests.ts";
import { jobStatuses as allJobStatuses } from "../core/states.ts";
import type { JobStatus } from "../core/states.ts";
import type { Role } from "../client/types.ts";

export const jobStatusNames: readonly JobStatus[] = allJobStatuses;
export const cancellationStatusNames: readonly CancellationStatus[] = cancellationStatuses;
export const roleNames: readonly Role[] = ["viewer", "user", "operator", "admin"];

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}.`);
    }
    return n;
  };
}

/** A whole id, or a unique prefix of one (4 characters at least, like git), resolved by `resolve-id.ts`. */
export function id(value: string): string {
  if (!uuid.test(value) && !/^[0-9a-f][0-9a-f-]{3,35}$/i.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not an id (a UUID such as 0190a7a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b, or its first 4 or more characters).`);
  }
  return value;
}

/** A whole id only (a UUID): for the ids no prefix is looked up for, such as a cancellation record's. */
export function wholeId(value: string): string {
  if (!uuid.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole id (a UUID such as 0190a7a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b).`);
  return value.toLowerCase();
}

/** A duration in ms: `1500` (ms), `1500ms`, `30s`, `5m`, `2h`. */
export function durationMs(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value.trim());
  const n = Number(m?.[1]);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m?.[2] ?? "ms") as "ms" | "s" | "m" | "h"];
  const ms = n * scale;
  if (m === null || !Number.isSafeInteger(ms) || ms > 7 * 86_400_000) throw new InvalidArgumentError(`"${value}" is not a duration (1500, 1500ms, 30s, 5m or 2h; at most 7 days).`);
  return ms;
}

/** `--reason TEXT`: within the contract's length, counted as the server counts (characters: Unicode code points). */
export function reasonText(value: string): string {
  const count = characterCount(value);
  if (count > requestLimits.reasonChars) throw new InvalidArgumentError(`at most ${requestLimits.reasonChars} characters, not ${count}.`);
  return value;
}

/** `--status queued,running` (comma-separated, repeatable). */
export function jobStatuses(value: string, previous: JobStatus[] = []): JobStatus[] {
  const statuses = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const s of statuses) {
    if (!(jobStatusNames as readonly string[]).includes(s)) throw new InvalidArgumentError(`"${s}" is not a job status (${jobStatusNames.join(", ")}).`);
  }
  return [...previous, ...(statuses as JobStatus[])];
}

/** `--label k=v`, repeatable. */
export function label(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not key=value.`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** `--pool name=N`, repeatable. */
/** `--remote NAME=URL`: a remote job service for the http adapter. */
export function remote(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([A-Za-z0-9_.-]{1,100})=(https?:\/\/\S+)$/.exec(value);
  if (m?.[1] === undefined || m[2] === undefined) throw new InvalidArgumentError(`"${value}" is not NAME=URL (an http or https URL).`);
  return { ...previous, [m[1]]: m[2] };
}

export function pool(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const match = /^([^=\s]+)=(\d+)$/.exec(value);
  const slots = Number(match?.[2]);
  if (match?.[1] === undefined || !Number.isSafeInteger(slots) || slots < 1) throw new InvalidArgumentError(`"${value}" is not name=N with N ≥ 1.`);
  return { ...previous, [match[1]]: slots };
}

/** A repeatable option's values in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
