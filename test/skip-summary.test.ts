/**
 * The reporter that ends every run with the skipped tests and why (test/skip-summary.ts), run
 * for real: Vitest on a fixture suite with each kind of skip.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../", import.meta.url));

it("lists each reason of skipping with its tests and files, and the skips without one", { timeout: 60_000 }, () => {
  const run = spawnSync(process.execPath, ["node_modules/vitest/vitest.mjs", "run", "--config", "test/fixtures/skip-summary/vitest.config.ts"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  expect(run.status, run.stdout + run.stderr).toBe(0);
  const summary = run.stdout.slice(run.stdout.indexOf("Skipped in this run, and why:"));
  expect(summary.trimEnd().split("\n")).toEqual([
    "Skipped in this run, and why:",
    "  FIXTURE_SERVICE is not set",
    "    2 tests in test/fixtures/skip-summary/skips.fixture.ts",
    "  no fixture device here",
    "    1 test in test/fixtures/skip-summary/skips.fixture.ts",
    "  no reason given (it.skip / it.todo, or not selected by -t or .only)",
    "    1 test in test/fixtures/skip-summary/skips.fixture.ts",
  ]);
});
