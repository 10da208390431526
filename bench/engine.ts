/** Opening a fresh engine on a temporary SQLite file, and waiting for events, for the benchmark. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BelayEvent, EventType } from "../src/core/model.ts";
import type { Belay } from "../src/engine/engine.ts";
import { openBelay } from "../src/engine/open.ts";
import type { BelayOptions } from "../src/engine/open.ts";

export const handlersModule = new URL("./handlers.ts", import.meta.url).pathname;

/** Wall-clock time in ms with sub-ms precision, comparable with the handler threads' `nowMs`. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Elapsed µs since an `process.hrtime.bigint()` reading. */
export function microsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1000;
}

/** Run `fn` on a fresh engine in a fresh temporary home (SQLite file under os.tmpdir()); always close and remove it. */
export async function withEngine<T>(options: BelayOptions, fn: (engine: Belay) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), "belay-bench-"));
  const engine = await openBelay({ home, db: `sqlite:${join(home, "belay.db")}`, handlers: handlersModule, ...options });
  try {
    return await fn(engine);
  } finally {
    await engine.close().catch((error: unknown) => process.stderr.write(`  (close failed: ${(error as Error).message})\n`));
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Count events of some types (optionally only those `accept` takes). `done` resolves with
 * the time (nowMs) of the `target`-th event, or null if `timeoutMs` passes first.
 */
export function countEvents(
  engine: Belay,
  types: readonly EventType[],
  target: number,
  timeoutMs: number,
  accept: (event: BelayEvent) => boolean = () => true,
): { done: Promise<number | null>; count: () => number; stop: () => void } {
  let count = 0;
  let resolveDone!: (value: number | null) => void;
  const done = new Promise<number | null>((resolve) => (resolveDone = resolve));
  const timer = setTimeout(() => resolveDone(null), timeoutMs);
  const unsubscribers = types.map((type) =>
    engine.on(type, (event) => {
      if (!accept(event)) return;
      count += 1;
      if (count === target) {
        clearTimeout(timer);
        resolveDone(nowMs());
      }
    }),
  );
  const stop = (): void => {
    clearTimeout(timer);
    for (const off of unsubscribers) off();
  };
  void done.then(stop);
  return { done, count: () => count, stop };
}

/** Submit `count` one-task noop jobs with sequential awaits; progress on stderr every `every` jobs. */
export async function fillQueued(engine: Belay, count: number, every: number, label: string): Promise<{ ids: string[]; ms: number }> {
  const ids: string[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i += 1) {
    ids.push((await engine.submitJob({ handler: "noop" })).id);
    if (every > 0 && (i + 1) % every === 0) {
      process.stderr.write(`  ${label}: ${(i + 1).toLocaleString("en-US")} / ${count.toLocaleString("en-US")} submitted (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    }
  }
  return { ids, ms: performance.now() - started };
}
