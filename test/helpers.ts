import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { openBelay } from "../src/engine/open.ts";
import type { BelayOptions } from "../src/engine/open.ts";
import type { Belay } from "../src/engine/engine.ts";
import type { Job } from "../src/core/model.ts";
import type { JobStatus, TaskStatus } from "../src/core/states.ts";

export const handlersModule = new URL("./fixtures/engine-handlers.ts", import.meta.url).pathname;

const opened: Belay[] = [];
const homes: string[] = [];

export function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), "belay-test-"));
  homes.push(home);
  return home;
}

/** An engine on a fresh SQLite file in a fresh home, closed after the test. */
export async function openTestEngine(options: BelayOptions = {}): Promise<Belay> {
  const engine = await openBelay({ home: options.home ?? tempHome(), handlers: handlersModule, pollIntervalMs: 20, ...options });
  opened.push(engine);
  return engine;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close().catch(() => undefined)));
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** Poll until `check` is true (for states reached asynchronously). */
export async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function untilJobStatus(engine: Belay, id: string, status: JobStatus): Promise<Job> {
  return until(() => engine.getJob(id), (job) => job.status === status);
}

export function untilTaskStatus(engine: Belay, id: string, key: string, status: TaskStatus): Promise<Job> {
  return until(() => engine.getJob(id), (job) => job.tasks.find((t) => t.key === key)?.status === status);
}
