/**
 * `npm run schema:dump [-- sqlite|postgres]`: write each dialect's committed schema dump
 * (src/store/<dialect>/schema.sql) from a fresh migration. PostgreSQL needs a database where a
 * scratch schema may be created and dropped: BELAY_TEST_PG_URL.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expectedCatalog as postgresCatalog } from "../src/store/postgres/doctor.ts";
import { dumpFile, renderSchema } from "../src/store/schema-dump.ts";
import type { Dialect } from "../src/store/schema-dump.ts";
import { expectedCatalog as sqliteCatalog } from "../src/store/sqlite/doctor.ts";

const asked = process.argv.slice(2);
const unknown = asked.filter((d) => d !== "sqlite" && d !== "postgres");
if (unknown.length > 0) {
  console.error(`schema:dump: unknown dialect ${unknown.join(", ")} (sqlite, postgres)`);
  process.exit(2);
}
const dialects = (asked.length > 0 ? asked : ["sqlite", "postgres"]) as Dialect[];

let failed = false;
for (const dialect of dialects) {
  const file = fileURLToPath(dumpFile(dialect));
  if (dialect === "sqlite") {
    writeFileSync(file, renderSchema("sqlite", sqliteCatalog()));
    console.log(`wrote ${file}`);
    continue;
  }
  const url = process.env["BELAY_TEST_PG_URL"];
  if (url === undefined || url === "") {
    console.error(`schema:dump: ${file} NOT written: set BELAY_TEST_PG_URL to a PostgreSQL database where a scratch schema may be created`);
    failed = true;
    continue;
  }
  try {
    writeFileSync(file, renderSchema("postgres", await postgresCatalog(url)));
    console.log(`wrote ${file}`);
  } catch (error) {
    console.error(`schema:dump: ${file} NOT written: ${error instanceof Error ? error.message : String(error)}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
