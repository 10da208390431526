/** Fresh PostgreSQL schemas for tests (STYLE habit 11): one per test, so test files can run in parallel. */
import { createHash, randomBytes } from "node:crypto";
import { expect } from "vitest";

/** The database of the PostgreSQL tests; unset, they are skipped with a notice. */
export const pgUrl = process.env["BELAY_TEST_PG_URL"];

/** `belay_t_<hash of the current test's name>_<random>`: unique, and recognisable in the database. */
export function testSchema(): string {
  const name = expect.getState().currentTestName ?? "unnamed";
  return `belay_t_${createHash("sha256").update(name).digest("hex").slice(0, 12)}_${randomBytes(4).toString("hex")}`;
}
