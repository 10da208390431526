/**
 * Task log lines written while the database is away are kept and written once it is back
 * (DESIGN invariant 6). Found by the PostgreSQL-restart test: a process's last line, printed
 * while the server was down, was missing from its logs although the job had succeeded (the
 * log sink dropped a batch the store could not take).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Belay } from "../../src/engine/engine.ts";
import { openTestEngine, untilJobStatus } from "../helpers.ts";

const engines: Belay[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

describe("storing task logs", () => {
  it("a batch of lines the store cannot take (the connection is lost) is tried again: every line is stored, in order", async () => {
    const engine = await openTestEngine();
    engines.push(engine);
    let failures = 3;
    let calls = 0;
    const store = engine.store as unknown as { appendLogs: (...args: unknown[]) => Promise<void> };
    const append = store.appendLogs.bind(store);
    store.appendLogs = async (...args: unknown[]) => {
      calls += 1;
      // A connection error (not a BelayError): what pg throws when the server goes away.
      if (failures-- > 0) throw Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
      return append(...args);
    };
    const job = await engine.submitJob({ command: "echo one; sleep 0.2; echo two; echo three" });
    await untilJobStatus(engine, job.id, "succeeded");
    expect(calls).toBeGreaterThan(3);
    expect((await engine.store.getLogs(job.id, {})).map((l) => l.line)).toEqual(["one", "two", "three"]);
  });
});
