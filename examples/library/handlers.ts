/**
 * The handlers of the README's library example (`openBelay({ handlers: ".../handlers.ts" })`).
 * Belay imports this module in a worker thread, so it only imports Node built-ins and types.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext } from "../../src/runners/handler.ts";

/** A test suite that takes `seconds` and reports its progress; a cancel stops it between tests. */
export async function runTests(input: { suite?: string; seconds?: number }, ctx: HandlerContext): Promise<{ suite: string; passed: number }> {
  const total = Math.max(1, Math.round((input.seconds ?? 30) * 4));
  let passed = 0;
  for (let i = 1; i <= total && !ctx.signal.aborted; i++) {
    await sleep(250, undefined, { signal: ctx.signal }).catch(() => undefined);
    if (ctx.signal.aborted) break;
    passed = i;
    ctx.progress({ ratio: i / total, message: `test ${i}/${total}` });
  }
  return { suite: input.suite ?? "full", passed };
}

/** The compensation of a cancelled release: runs only after a cancel (`runOn: "cancel"`). */
export async function undoRelease(_input: unknown, ctx: HandlerContext): Promise<{ undone: true }> {
  ctx.log("release undone: tag deleted, artifacts withdrawn");
  return { undone: true };
}
