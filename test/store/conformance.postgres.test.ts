/**
 * The Store conformance suite on PostgreSQL, against the database in BELAY_TEST_PG_URL (e.g.
 * `postgres://postgres@127.0.0.1:5432/test`). Without it the suite is skipped with a notice.
 * Each test gets a fresh schema, named from a hash of the test's name and a random suffix and
 * dropped afterwards, so test files (and runs) can share the database in parallel.
 */
import { describe } from "vitest";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { describeStoreConformance } from "./conformance.ts";
import { pgUrl, testSchema } from "./pg-schema.ts";
import { noPostgres, skippedIf } from "../optional.ts";

describe("PostgreSQL", skippedIf(noPostgres), () => {
  describeStoreConformance("PostgreSQL store conformance", async () => {
    const url = pgUrl ?? "";
    const schema = testSchema();
    const store = new PostgresStore({ url, schema, poolSize: 10 });
    await store.migrate();
    const siblings: PostgresStore[] = [];
    return {
      store,
      openSibling: async () => {
        const sibling = new PostgresStore({ url, schema, poolSize: 10 });
        siblings.push(sibling);
        return sibling;
      },
      cleanup: async () => {
        for (const s of siblings) await s.close();
        await store.dropSchema();
        await store.close();
      },
    };
  });
});
