/**
 * Handlers for the race tests, loaded in the engine's worker threads (only node: built-ins).
 */
import { existsSync } from "node:fs";
import { setImmediate as yieldTurn } from "node:timers/promises";
import type { HandlerContext } from "../../src/runners/handler.ts";
import type { Json } from "../../src/core/model.ts";

/**
 * Reports `armed`, then returns as soon as the file `input.trigger` exists — or as soon as
 * its signal is aborted, whichever comes first, without waiting for anything else. The test
 * creates the file and sends the cancel at the same instant.
 */
export async function returnOnTrigger(input: { trigger?: Json } | null, ctx: HandlerContext): Promise<Json> {
  const trigger = typeof input?.trigger === "string" ? input.trigger : "";
  ctx.progress({ ratio: 0.5, message: "armed" });
  while (!ctx.signal.aborted && !existsSync(trigger)) await yieldTurn();
  return { triggered: existsSync(trigger), aborted: ctx.signal.aborted };
}
