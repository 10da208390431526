/** `belay.submitJobs`: bulk submit through the library, on SQLite and on PostgreSQL. */
import { afterEach, describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import type { Belay } from "../../src/engine/engine.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { openTestEngine, until } from "../helpers.ts";
import { pgUrl, testSchema } from "../store/pg-schema.ts";

const schemas: string[] = [];
afterEach(async () => {
  for (const schema of schemas.splice(0)) {
    const store = new PostgresStore({ url: pgUrl as string, schema });
    await store.dropSchema().catch(() => undefined);
    await store.close();
  }
});

const kinds: Array<{ name: string; open: () => Promise<Belay> }> = [{ name: "SQLite", open: () => openTestEngine({ concurrency: 4 }) }];
if (pgUrl) {
  kinds.push({
    name: "PostgreSQL",
    open: () => {
      const schema = testSchema();
      schemas.push(schema);
      return openTestEngine({ db: `${pgUrl}?schema=${schema}`, concurrency: 4 });
    },
  });
} else console.warn("BELAY_TEST_PG_URL not set: submitJobs on PostgreSQL skipped");

describe.each(kinds)("submitJobs on $name", ({ open }) => {
  it("stores and runs every job, in order, and returns a repeated idempotency key's job", async () => {
    const belay = await open();
    const seen: string[] = [];
    belay.on("belay.job.created", (e) => {
      seen.push(e.subject);
    });
    const results = await belay.submitJobs([
      ...Array.from({ length: 20 }, (_, i) => ({ name: `j${i}`, command: ["true"] })),
      { name: "keyed", command: ["true"], idempotencyKey: "lib-k" },
      { name: "keyed twice", command: ["true"], idempotencyKey: "lib-k" },
    ], { owner: "alice" });
    expect(results.map((r) => r.created)).toEqual([...Array.from({ length: 21 }, () => true), false]);
    expect(results[21]?.job.id).toBe(results[20]?.job.id);
    expect(results.every((r) => r.job.owner === "alice")).toBe(true);
    // Every created job's creation event reached the bus, and every job runs to the end.
    await until(async () => seen.length, (n) => n >= 21);
    expect(new Set(seen)).toEqual(new Set(results.slice(0, 21).map((r) => r.job.id)));
    await until(() => belay.listJobs({ status: ["succeeded"] }, { limit: 100 }), (page) => page.items.length === 21, 60_000);
    const again = await belay.submitJobs([{ name: "other", command: ["true"], idempotencyKey: "lib-k" }], { owner: "alice" });
    expect(again[0]).toMatchObject({ created: false, job: { id: results[20]?.job.id } });
  }, 90_000);

  it("refuses the whole batch for one bad spec, naming its index, and stores nothing", async () => {
    const belay = await open();
    const error = await belay.submitJobs([{ command: ["true"] }, { command: ["true"] }, { handler: "no-such-handler" }]).catch((e: unknown) => e);
    expect(isBelayError(error, "INVALID_REQUEST")).toBe(true);
    expect((error as { details: Record<string, unknown> }).details["index"]).toBe(2);
    expect((await belay.listJobs({}, { limit: 10 })).items).toEqual([]);
    for (const bad of [[], "x", Array.from({ length: 10_001 }, () => ({ command: ["true"] }))]) {
      expect(isBelayError(await belay.submitJobs(bad).catch((e: unknown) => e), "INVALID_REQUEST")).toBe(true);
    }
  });
});
