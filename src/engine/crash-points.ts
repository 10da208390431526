/**
 * Named points where the chaos tests (test/chaos) kill the engine's own process with
 * SIGKILL, to check that recovery restores every invariant of DESIGN §2 whatever the
 * engine was doing. `BELAY_CRASH_AT=name` kills at the first time `name` is reached,
 * `name:N` at the N-th time. Without the variable a crash point is one comparison with
 * null: the variable is read once, when this module loads.
 */

const target = parseTarget(process.env["BELAY_CRASH_AT"]);
let reached = 0;

function parseTarget(value: string | undefined): { name: string; occurrence: number } | null {
  if (value === undefined || value === "") return null;
  const colon = value.lastIndexOf(":");
  const count = colon > 0 ? Number(value.slice(colon + 1)) : NaN;
  if (Number.isInteger(count) && count >= 1) return { name: value.slice(0, colon), occurrence: count };
  return { name: value, occurrence: 1 };
}

export function crashPoint(name: string): void {
  if (target === null || target.name !== name) return;
  reached += 1;
  if (reached === target.occurrence) process.kill(process.pid, "SIGKILL");
}
