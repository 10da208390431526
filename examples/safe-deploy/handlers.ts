/**
 * Handlers of examples/safe-deploy. Loaded in Belay's worker threads, so only node: built-ins.
 * In your own project the context type comes from "belay-jobs".
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext } from "../../src/index.ts";
import type { Json } from "../../src/index.ts";

type Input = { [key: string]: Json } | null;

/**
 * Ingests `batches` batches of `ms` each. It saves a checkpoint after every batch, so an
 * attempt stopped by a drain starts again where the last one left off, on whichever node
 * runs it next.
 */
export async function ingest(input: Input, ctx: HandlerContext): Promise<Json> {
  const total = typeof input?.["batches"] === "number" ? input["batches"] : 40;
  const ms = typeof input?.["ms"] === "number" ? input["ms"] : 100;
  const resumedFrom = (ctx.lastCheckpoint as { batch?: number } | null)?.batch ?? 0;
  let batch = resumedFrom;
  while (batch < total) {
    if (ctx.signal.aborted) throw new Error(`stopped after batch ${batch}`);
    await sleep(ms);
    batch += 1;
    ctx.checkpoint({ batch });
    ctx.progress({ ratio: batch / total, message: `batch ${batch}/${total}` });
  }
  return { batches: batch, resumedFrom };
}

/** Waits on something that never answers, saying nothing: the stall watchdog's case. */
export async function waitForever(_input: Input, ctx: HandlerContext): Promise<Json> {
  await sleep(3_600_000, undefined, { signal: ctx.signal }).catch(() => undefined);
  throw new Error("stopped while waiting");
}
