/**
 * The optional parts of the suite: what each needs that a developer's machine may lack. A test
 * that cannot run here is skipped with its reason (PostgreSQL here; the browser in
 * test/web/helpers.ts: `noBrowser`) — never passed — and test/skip-summary.ts
 * lists every reason at the end of the run. CI provides all of them.
 *
 *   describe("PostgreSQL store", skippedIf(noPostgres), () => { … })
 *   it("…", async (ctx) => { if (cannot) ctx.skip("why"); … })   // found out only while running
 */
declare module "vitest" {
  interface TaskMeta {
    /** Why this suite or test is skipped here; read by test/skip-summary.ts. */
    skipReason?: string;
  }
}

/** Why the PostgreSQL tests cannot run here, or null when they can. */
export const noPostgres: string | null = process.env["BELAY_TEST_PG_URL"]
  ? null
  : "BELAY_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)";

/** Options for `describe` or `it`: skipped, with `reason` for the summary, when `reason` is not null. */
export function skippedIf(reason: string | null): { skip?: true; meta?: { skipReason: string } } {
  return reason === null ? {} : { skip: true, meta: { skipReason: reason } };
}
