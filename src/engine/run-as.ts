/**
 * `--run-as USER [--run-as-group GROUP]`: the uid and gid tasks run under. Resolved with
 * `id` and `getent`, so users from NSS (LDAP, sssd) work as well as /etc/passwd ones.
 *
 * `--run-as-uids START-END [--run-as-group GROUP]`: a range of numeric uids, one per running
 * attempt (like systemd's DynamicUser), so concurrent tasks cannot read each other's files
 * or processes. The range must hold no existing user (nor, without a group, any existing
 * group): a task given such a uid would act as that user.
 */
import { execFileSync } from "node:child_process";
import { BelayError } from "../core/errors.ts";

export interface RunAs {
  uid: number;
  gid: number;
}

/** A range of uids handed out one per running attempt; `gid` null: each uid's gid is the uid itself. */
export interface RunAsUids {
  start: number;
  end: number;
  gid: number | null;
}

/** The largest uid a range may reach: (uid_t)-1 means "unchanged" to setresuid, and one below is kept back as Linux's overflow uid is. */
const maxUid = 4_294_967_293;
/** Most uids in a range: enough for any node, and bounded so a scan of the range stays cheap. */
const maxRangeSize = 65_536;

function numeric(text: string): number | null {
  return /^\d+$/.test(text) ? Number(text) : null;
}

function ask(args: string[]): string | null {
  try {
    return execFileSync(args[0]!, args.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 64 * 1024 * 1024 }).trim();
  } catch {
    return null;
  }
}

function invalid(field: string, what: string): never {
  throw new BelayError("INVALID_REQUEST", what, { details: { field } });
}

function resolveGroup(group: string): number {
  const gid = numeric(group) ?? numeric((ask(["getent", "group", group]) ?? "").split(":")[2] ?? "") ?? invalid("runAsGroup", `--run-as-group: no group "${group}" on this machine`);
  if (gid === 0) invalid("runAsGroup", "--run-as-group: tasks must not run in group root (gid 0)");
  return gid;
}

export function resolveRunAs(user: string, group?: string): RunAs {
  const fail = (what: string): never => invalid("runAs", what);
  const uid = numeric(user) ?? numeric(ask(["id", "-u", "--", user]) ?? "") ?? fail(`--run-as: no user "${user}" on this machine`);
  let gid: number;
  if (group === undefined) gid = numeric(ask(["id", "-g", "--", user]) ?? "") ?? fail(`--run-as: cannot find the group of user "${user}"; give --run-as-group`);
  else gid = resolveGroup(group);
  if (uid === 0) fail("--run-as: tasks must not run as root (uid 0): that is what --run-as is for");
  return { uid, gid };
}

/** The shape of a range, as `openBelay` also checks it: integers, 1 ≤ start ≤ end ≤ maxUid, at most maxRangeSize uids. */
export function checkRunAsUids(range: RunAsUids): RunAsUids {
  const { start, end, gid } = range;
  const label = `${start}-${end}`;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start > end) invalid("runAsUids", `--run-as-uids: ${label} is not a range START-END of uids with START ≤ END`);
  if (start <= 0) invalid("runAsUids", `--run-as-uids: ${label} includes uid 0 (root); tasks must not run as root`);
  if (end > maxUid) invalid("runAsUids", `--run-as-uids: ${label} goes past the largest usable uid ${maxUid}`);
  if (end - start + 1 > maxRangeSize) invalid("runAsUids", `--run-as-uids: ${label} holds ${end - start + 1} uids; at most ${maxRangeSize}`);
  if (gid !== null && (!Number.isInteger(gid) || gid <= 0 || gid > maxUid)) invalid("runAsGroup", `--run-as-group: ${gid} is not a usable gid (not 0, not root's group)`);
  return range;
}

/** Ids in [start, end] that `getent <database>` lists (passwd: users, group: groups), with their names. */
function existingIds(database: "passwd" | "group", start: number, end: number): string[] {
  const text = ask(["getent", database]);
  if (text === null) invalid("runAsUids", `--run-as-uids: cannot list the ${database === "passwd" ? "users" : "groups"} of this machine (getent ${database} failed)`);
  const found: string[] = [];
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    const value = numeric(id ?? "");
    if (value !== null && value >= start && value <= end) found.push(`${name ?? "?"} (${value})`);
  }
  return found;
}

/**
 * `--run-as-uids START-END [--run-as-group GROUP]`, checked against this machine: no user
 * of `getent passwd` (system users below 1000 or people alike) may fall in the range, nor,
 * when each uid is its own gid, any group of `getent group`.
 */
export function resolveRunAsUids(range: string, group?: string): RunAsUids {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(range);
  if (match === null) invalid("runAsUids", `--run-as-uids: "${range}" is not a range START-END of numeric uids (e.g. 61000-61999)`);
  const resolved = checkRunAsUids({ start: Number(match[1]), end: Number(match[2]), gid: group === undefined ? null : resolveGroup(group) });
  const users = existingIds("passwd", resolved.start, resolved.end);
  if (users.length > 0) {
    const system = users.some((u) => Number(/\((\d+)\)$/.exec(u)?.[1]) < 1000);
    invalid("runAsUids", `--run-as-uids: ${range} overlaps existing ${system ? "system " : ""}users: ${users.slice(0, 5).join(", ")}${users.length > 5 ? ", …" : ""}; a task given their uid would act as them. Pick a range no user holds (e.g. 61000-61999)`);
  }
  if (resolved.gid === null) {
    const groups = existingIds("group", resolved.start, resolved.end);
    if (groups.length > 0) invalid("runAsUids", `--run-as-uids: ${range} overlaps existing groups: ${groups.slice(0, 5).join(", ")}${groups.length > 5 ? ", …" : ""}; each uid runs with its own gid (= uid) unless --run-as-group is given. Pick another range or give --run-as-group`);
  }
  return resolved;
}
