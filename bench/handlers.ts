/**
 * Handlers for the benchmark. Loaded in the engine's worker threads (plain Node with type
 * stripping), so only node: built-ins; the type imports below are erased.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { HandlerContext } from "../src/runners/handler.ts";
import type { Json } from "../src/core/model.ts";

/** Wall-clock time in ms with sub-ms precision, comparable across threads of one process. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Returns at once (W1). */
export function noop(): Json {
  return null;
}

/**
 * A cooperative handler (W3): announces that it runs, then checks its signal every ~1 ms
 * (`while (!signal.aborted) await setTimeout(1)`), or every `input.pollMs` ms when given (the
 * peer benchmark's W3 burst: 10 ms), and returns when it sees the abort.
 * Output: `sawAbortAt` (when the loop saw the abort) and `abortEventAt` (when the signal's
 * `abort` event fired in the thread, i.e. when the engine's abort was delivered).
 */
export async function cooperative(input: Json, ctx: HandlerContext): Promise<Json> {
  const requested = typeof input === "object" && input !== null && !Array.isArray(input) ? input["pollMs"] : undefined;
  const pollMs = typeof requested === "number" && requested > 0 ? requested : 1;
  let abortEventAt: number | null = null;
  ctx.signal.addEventListener("abort", () => (abortEventAt = nowMs()), { once: true });
  ctx.progress({ message: "started", startedAt: nowMs() });
  while (!ctx.signal.aborted) await sleep(pollMs);
  const sawAbortAt = nowMs();
  return { sawAbortAt, abortEventAt };
}

/**
 * Diagnostic twin of `cooperative` that does not poll: it waits for the signal's `abort`
 * event, so the threads use no CPU while they run. Separates the engine's own cancel
 * latency from the CPU that 50 polling threads take from a small machine.
 */
export async function awaitAbort(_input: Json, ctx: HandlerContext): Promise<Json> {
  ctx.progress({ message: "started", startedAt: nowMs() });
  const abortEventAt = await new Promise<number>((resolve) => {
    if (ctx.signal.aborted) resolve(nowMs());
    else ctx.signal.addEventListener("abort", () => resolve(nowMs()), { once: true });
  });
  return { sawAbortAt: abortEventAt, abortEventAt };
}
