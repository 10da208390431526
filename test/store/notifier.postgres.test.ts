/** The LISTEN/NOTIFY notifier: delivery, and coming back after its connection is killed. */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { NodeMessage } from "../../src/store/store.ts";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { until } from "../helpers.ts";
import { pgUrl, testSchema } from "./pg-schema.ts";
import { noPostgres, skippedIf } from "../optional.ts";

const stores: PostgresStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) {
    await store.dropSchema().catch(() => undefined);
    await store.close();
  }
});

describe("PostgreSQL notifier", skippedIf(noPostgres), () => {
  it("delivers each message to every subscriber of the schema, and none of another schema", async () => {
    const schema = testSchema();
    const a = new PostgresStore({ url: pgUrl as string, schema, applicationName: "belay:test-a" });
    const b = new PostgresStore({ url: pgUrl as string, schema, applicationName: "belay:test-b" });
    const other = new PostgresStore({ url: pgUrl as string, schema: `${schema}_x`, applicationName: "belay:test-x" });
    stores.push(a, b, other);
    const got: { b: NodeMessage[]; other: NodeMessage[] } = { b: [], other: [] };
    const stopB = await b.notifier.subscribe((m) => got.b.push(m), () => undefined);
    const stopOther = await other.notifier.subscribe((m) => got.other.push(m), () => undefined);
    await a.notifier.publish({ type: "cancel", jobId: "j1", recordId: "r1", force: true });
    await a.notifier.publish({ type: "events", seq: 42 });
    await until(async () => got.b.length, (n) => n === 2);
    expect(got.b).toEqual([{ type: "cancel", jobId: "j1", recordId: "r1", force: true }, { type: "events", seq: 42 }]);
    expect(got.other).toEqual([]);
    await stopB();
    await stopOther();
  });

  it("comes back after its connection is terminated, says so, and receives again", async () => {
    const schema = testSchema();
    const store = new PostgresStore({ url: pgUrl as string, schema, applicationName: "belay:test-drop" });
    stores.push(store);
    const got: NodeMessage[] = [];
    let reconnects = 0;
    const stop = await store.notifier.subscribe((m) => got.push(m), () => (reconnects += 1));
    const admin = new pg.Client({ connectionString: pgUrl as string });
    await admin.connect();
    try {
      const { rows } = await admin.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", ["belay:test-drop:listen"]);
      expect(rows).toEqual([{ ok: true }]);
      await until(async () => reconnects, (n) => n === 1);
      await store.notifier.publish({ type: "work" });
      await until(async () => got, (m) => m.length === 1);
      expect(got).toEqual([{ type: "work" }]);
    } finally {
      await admin.end();
      await stop();
    }
  });
});
