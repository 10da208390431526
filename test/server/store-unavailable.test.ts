/**
 * A request whose database connection is lost mid-transaction is answered 503
 * STORE_UNAVAILABLE (retryable, nothing applied), never 500 INTERNAL — against a real
 * PostgreSQL whose backend for the request is terminated while the request holds it.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { toBelayError } from "../../src/server/errors.ts";
import { noPostgres, skippedIf } from "../optional.ts";

describe("a lost database connection", () => {
  it("maps PostgreSQL's connection errors and shutdowns to STORE_UNAVAILABLE, and nothing else", () => {
    for (const code of ["08006", "08003", "57P01", "57P02", "57P03", "ECONNRESET", "ECONNREFUSED"]) {
      expect(toBelayError(Object.assign(new Error("gone"), { code })).code).toBe("STORE_UNAVAILABLE");
    }
    expect(toBelayError(new Error("Connection terminated unexpectedly")).httpStatus).toBe(503);
    // A constraint violation or a syntax error is a bug, not an outage.
    expect(toBelayError(Object.assign(new Error("duplicate key"), { code: "23505" })).code).toBe("INTERNAL");
    expect(toBelayError(new Error("something else")).code).toBe("INTERNAL");
  });

  it("is what a query gets when pg_terminate_backend ends its connection", skippedIf(noPostgres), async () => {
    const url = process.env["BELAY_TEST_PG_URL"] as string;
    const victim = new pg.Client({ connectionString: url, application_name: "belay:store-unavailable-test" });
    victim.on("error", () => undefined);
    await victim.connect();
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    try {
      const query = victim.query("SELECT pg_sleep(30)").then(
        () => null,
        (error: unknown) => error,
      );
      await new Promise((r) => setTimeout(r, 200));
      await killer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'belay:store-unavailable-test'");
      const error = await query;
      expect(error).not.toBeNull();
      const mapped = toBelayError(error);
      expect(mapped.code).toBe("STORE_UNAVAILABLE");
      expect(mapped.httpStatus).toBe(503);
    } finally {
      await killer.end();
      await victim.end().catch(() => undefined);
    }
  });
});
