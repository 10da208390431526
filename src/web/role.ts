/**
 * Who the signed-in token acts as, read once from `GET /whoami`, and what that role may do
 * (DESIGN §5): the UI offers only the actions the server would accept. The server still
 * decides; this only keeps a viewer from being shown a Stop that can only fail.
 */
import { useEffect, useState } from "preact/hooks";
import { belay } from "./api.ts";
import type { Job } from "./api.ts";
import { useSession } from "./session.ts";

export type Role = "viewer" | "user" | "operator" | "admin";

export interface Me {
  principal: string;
  role: Role;
}

const rank: Record<Role, number> = { viewer: 0, user: 1, operator: 2, admin: 3 };

let cached: { token: string; me: Promise<Me | null> } | null = null;

function readMe(token: string): Promise<Me | null> {
  if (cached?.token !== token) {
    // A server without /whoami (older) answers 404: the UI then offers everything and lets the server refuse.
    cached = { token, me: belay.whoami().catch(() => null) };
  }
  return cached.me;
}

/** The caller, once known (null while loading, or when the server cannot say). */
export function useMe(): Me | null {
  const session = useSession();
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    if (session === null) return;
    let live = true;
    void readMe(session.token).then((m) => live && setMe(m));
    return () => {
      live = false;
    };
  }, [session?.token]);
  return me;
}

function atLeast(me: Me, role: Role): boolean {
  return rank[me.role] >= rank[role];
}

/** Stop or resume this job: a user its own, an operator or admin any. Unknown caller: offered (the server decides). */
export function canActOn(me: Me | null, job: Pick<Job, "owner">): boolean {
  if (me === null) return true;
  return atLeast(me, "operator") || (atLeast(me, "user") && me.principal === job.owner);
}

/** Stop several jobs at once (the bulk cancel) needs the operator role. */
export function canBulkStop(me: Me | null): boolean {
  return me === null || atLeast(me, "operator");
}

/** Pause or resume a schedule: a user its own, an operator or admin any. */
export function canManageSchedule(me: Me | null, schedule: { owner: string }): boolean {
  return canActOn(me, schedule);
}

/** Pausing a queue stops dispatch for everyone: operator. */
export function canPauseQueue(me: Me | null): boolean {
  return me === null || atLeast(me, "operator");
}

export function roleNote(me: Me | null): string | null {
  if (me === null) return null;
  if (me.role === "viewer") return `Signed in as ${me.principal}, a viewer: you can look at everything and change nothing.`;
  if (me.role === "user") return `Signed in as ${me.principal}: you can stop and resume your own jobs.`;
  return null;
}
