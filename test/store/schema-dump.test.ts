/**
 * The committed schema dumps (src/store/<dialect>/schema.sql) match what a fresh migration
 * creates: a migration changed without `npm run schema:dump` fails here with the diff.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expectedCatalog as postgresCatalog } from "../../src/store/postgres/doctor.ts";
import { dumpCommand, dumpFile, renderSchema } from "../../src/store/schema-dump.ts";
import type { Dialect } from "../../src/store/schema-dump.ts";
import { expectedCatalog as sqliteCatalog } from "../../src/store/sqlite/doctor.ts";
import { noPostgres, skippedIf } from "../optional.ts";
import { pgUrl } from "./pg-schema.ts";

function expectCommitted(dialect: Dialect, fresh: string): void {
  const file = dumpFile(dialect);
  const committed = readFileSync(file, "utf8");
  // Vitest prints the diff (committed → fresh) under this message.
  expect(fresh, `${file.pathname} differs from a fresh migration: if the migrations changed on purpose, run \`${dumpCommand}\` (BELAY_TEST_PG_URL set) and commit the result`).toBe(committed);
}

describe("committed schema dumps", () => {
  it("sqlite: src/store/sqlite/schema.sql is what the migrations create", () => {
    expectCommitted("sqlite", renderSchema("sqlite", sqliteCatalog()));
  });

  it("postgres: src/store/postgres/schema.sql is what the migrations create", { ...skippedIf(noPostgres), timeout: 60_000 }, async () => {
    expectCommitted("postgres", renderSchema("postgres", await postgresCatalog(pgUrl ?? "")));
  });

  it("the dump shows each table with its columns and each index, sorted by name", () => {
    const dump = renderSchema("sqlite", {
      tables: { b: { z: { type: "TEXT", nullable: false }, a: { type: "INTEGER", nullable: true } }, a: {} },
      indexes: { b_z: { table: "b", definition: "CREATE INDEX b_z ON b (z)" }, b_a: { table: "b", definition: "CREATE INDEX b_a ON b (a)" } },
    });
    expect(dump.split("\n").slice(3).join("\n")).toBe(`
TABLE a ();

TABLE b (
  z TEXT NOT NULL,
  a INTEGER
);
INDEX b_a: CREATE INDEX b_a ON b (a)
INDEX b_z: CREATE INDEX b_z ON b (z)
`);
  });
});
