/**
 * The README's promises, checked against the code: the tour's job is still running when the
 * reader gets to cancel it (and it shows progress), and the package entry points are the
 * files `npm run build` writes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCliServer } from "../cli/helpers.ts";
import type { CliServer } from "../cli/helpers.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(join(repo, "README.md"), "utf8");

/** The tour's `npx belay job submit …` line, as argv after `belay` (shell-unquoted by a shell). */
function tourSubmitLine(): string {
  const line = readme.split("\n").find((l) => l.startsWith("npx belay job submit"));
  if (line === undefined) throw new Error("README: no `npx belay job submit` line in the tour");
  return line.replace(/^npx belay /, "");
}

describe("README", () => {
  let server: CliServer;
  beforeAll(async () => {
    server = await startCliServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("tour: the submitted job still runs, with progress, when the reader cancels it — and the cancel stops it", async () => {
    // The reader's shell parses the line: so does sh here (the quoting is part of what is tested).
    const { execFileSync } = await import("node:child_process");
    const argv = JSON.parse(execFileSync("sh", ["-c", `node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- ${tourSubmitLine()}`], { encoding: "utf8" })) as string[];
    const submitted = await server.run(argv);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = /submitted job ([0-9a-f-]{36})/.exec(submitted.stdout)?.[1];
    expect(id).toBeDefined();
    // A reader takes a while to copy the id: after 5 s the job is still running and has shown progress.
    await new Promise((r) => setTimeout(r, 5000));
    const { job } = await server.client.getJob(id ?? "");
    expect(job.status).toBe("running");
    expect(job.progress.ratio ?? 0).toBeGreaterThan(0);
    expect(job.progress.message).toMatch(/^step \d+ of 99$/);
    const cancelled = await server.run(["job", "cancel", id ?? "", "--reason", "demo over"]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain("cancelled; cancellation completed");
    expect((await server.client.getJob(id ?? "")).job.status).toBe("cancelled");
  }, 60_000);

  it("says where the web UI is", () => {
    expect(readme).toMatch(/web UI\*\* is at <http:\/\/127\.0\.0\.1:7420\/>/);
  });

  it("library use: the package exports are the files `npm run build` writes, from sources that exist", () => {
    expect(readme).toContain("npm run build");
    const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: Record<string, string>; exports: Record<string, { import: string; types: string }> };
    expect(pkg.scripts["build"]).toContain("tsc -p tsconfig.build.json");
    const build = JSON.parse(readFileSync(join(repo, "tsconfig.build.json"), "utf8")) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(build.compilerOptions).toMatchObject({ outDir: "dist", rootDir: "src" });
    for (const entry of Object.values(pkg.exports)) {
      // dist/X.js is compiled from src/X.ts.
      const source = entry.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts");
      expect(existsSync(join(repo, source)), source).toBe(true);
      expect(entry.types).toBe(entry.import.replace(/\.js$/, ".d.ts"));
    }
    // The handlers module the example uses exists and is exercised (test/examples/library.test.ts).
    expect(readme).toContain("examples/library/release.ts");
    expect(existsSync(join(repo, "examples/library/handlers.ts"))).toBe(true);
  });
});
