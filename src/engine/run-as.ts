/**
 * `--run-as USER [--run-as-group GROUP]`: the uid and gid tasks run under. Resolved with
 * `id` and `getent`, so users from NSS (LDAP, sssd) work as well as /etc/passwd ones.
 */
import { execFileSync } from "node:child_process";
import { BelayError } from "../core/errors.ts";

export interface RunAs {
  uid: number;
  gid: number;
}

function numeric(text: string): number | null {
  return /^\d+$/.test(text) ? Number(text) : null;
}

export function resolveRunAs(user: string, group?: string): RunAs {
  const fail = (what: string): never => {
    throw new BelayError("INVALID_REQUEST", what, { details: { field: "runAs" } });
  };
  const ask = (args: string[]): string | null => {
    try {
      return execFileSync(args[0]!, args.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return null;
    }
  };
  const uid = numeric(user) ?? numeric(ask(["id", "-u", "--", user]) ?? "") ?? fail(`--run-as: no user "${user}" on this machine`);
  let gid: number;
  if (group === undefined) gid = numeric(ask(["id", "-g", "--", user]) ?? "") ?? fail(`--run-as: cannot find the group of user "${user}"; give --run-as-group`);
  else gid = numeric(group) ?? numeric((ask(["getent", "group", group]) ?? "").split(":")[2] ?? "") ?? fail(`--run-as-group: no group "${group}" on this machine`);
  if (uid === 0) fail("--run-as: tasks must not run as root (uid 0): that is what --run-as is for");
  return { uid, gid };
}
