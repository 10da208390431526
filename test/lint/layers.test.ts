/**
 * The layering guards of eslint.config.js, run through ESLint's own API: every guard fires in
 * every layer it names (flat config keeps only the last `no-restricted-imports` matching a file,
 * which once silently dropped guards), allowed imports pass, and every folder of src/ belongs to
 * a layer whose whole guard list applies.
 */
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

/** What eslint.config.js exports besides the config (it is JavaScript: TypeScript sees no types). */
interface LayerTable {
  layers: Record<string, { files: string[]; forbid: string[]; typesFrom?: string[]; node?: boolean }>;
  drivers: Record<string, string>;
  restrictedImports: (layer: string) => unknown;
}
const { drivers, layers, restrictedImports } = (await import(new URL("../../eslint.config.js", import.meta.url).href)) as LayerTable;

const root = fileURLToPath(new URL("../../", import.meta.url));
const eslint = new ESLint({ cwd: root });

/** A file that would sit in `layer`, one folder deeper where the layer spans subfolders. */
function probeFile(layer: string): string {
  if (layer === "root") return "src/probe.ts";
  if (layer === "store") return "src/store/probe.ts";
  return `src/${layer}/deeper/probe.ts`;
}

/** The import specifier of src/<folder>/x.ts as written from `file`. */
function specifier(file: string, folder: string): string {
  const path = relative(dirname(file), `src/${folder}/x.ts`);
  return path.startsWith(".") ? path : `./${path}`;
}

interface Finding {
  line: number;
  message: string;
}

/** Lint `lines` (one import each) as `file`; the restricted-import findings by line (1-based). */
async function restrictions(file: string, lines: string[]): Promise<Finding[]> {
  const [result] = await eslint.lintText(`${lines.join("\n")}\n`, { filePath: join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => ({ line: m.line, message: m.message }));
}

describe("layering guards (eslint.config.js)", () => {
  it("the issue's cases: pg in src/engine, ../cli in src/store, node:fs in src/core", async () => {
    expect(await restrictions("src/engine/probe.ts", ['import pg from "pg";'])).toEqual([
      { line: 1, message: expect.stringContaining("only src/store/postgres may import pg") },
    ]);
    expect(await restrictions("src/runners/probe.ts", ['import { DatabaseSync } from "node:sqlite";'])).toEqual([
      { line: 1, message: expect.stringContaining("only src/store/sqlite may import node:sqlite") },
    ]);
    expect(await restrictions("src/store/store.ts", ['import { x } from "../cli/x.ts";', 'import { y } from "../server/y.ts";'])).toEqual([
      { line: 1, message: expect.stringContaining("src/store must not import src/cli") },
      { line: 2, message: expect.stringContaining("src/store must not import src/server") },
    ]);
    expect(await restrictions("src/core/probe.ts", ['import { readFileSync } from "node:fs";'])).toEqual([
      { line: 1, message: expect.stringContaining("src/core must not import Node's modules") },
    ]);
  });

  for (const [layer, guard] of Object.entries(layers)) {
    const file = probeFile(layer);

    it(`${layer}: every forbidden folder, driver and module is refused`, async () => {
      const cases: Array<{ line: string; expected: string }> = [
        ...guard.forbid.map((folder) => ({ line: `import { x } from "${specifier(file, folder)}";`, expected: `src/${layer} must not import src/${folder}` })),
        ...Object.entries(drivers)
          .filter(([, owner]) => owner !== layer)
          .map(([name, owner]) => ({ line: `import driver from "${name}";`, expected: `only src/${owner} may import ${name}` })),
        ...(guard.typesFrom ?? []).map((folder) => ({ line: `import { x } from "${specifier(file, folder)}";`, expected: `may import types from src/${folder}, not code` })),
        ...(guard.node === false ? [{ line: 'import { readFileSync } from "node:fs";', expected: "must not import Node's modules" }] : []),
      ];
      const findings = await restrictions(file, cases.map((c) => c.line));
      // One line may break two guards (node:sqlite in src/core is a driver and a Node module).
      cases.forEach((c, i) => {
        const messages = findings.filter((f) => f.line === i + 1).map((f) => f.message);
        expect(messages, c.line).toContainEqual(expect.stringContaining(c.expected));
      });
    });

    it(`${layer}: what it may import passes`, async () => {
      const refused = new Set([...guard.forbid, ...(guard.typesFrom ?? [])]);
      const allowedFolders = ["core", "store", "runners", "engine", "server", "client", "mcp", "cli", "web", "fake-remote"].filter((f) => !refused.has(f));
      const lines = [
        ...allowedFolders.map((folder) => `import { x } from "${specifier(file, folder)}";`),
        ...(guard.typesFrom ?? []).map((folder) => `import type { T } from "${specifier(file, folder)}";`),
        ...Object.entries(drivers).filter(([, owner]) => owner === layer).map(([name]) => `import driver from "${name}";`),
        ...(guard.node === false ? [] : ['import { readFileSync } from "node:fs";']),
      ];
      expect(lines.length).toBeGreaterThan(0);
      expect(await restrictions(file, lines)).toEqual([]);
    });
  }

  it("each driver is allowed in its own dialect only", async () => {
    expect(await restrictions("src/store/postgres/db.ts", ['import pg from "pg";', 'import { DatabaseSync } from "node:sqlite";'])).toEqual([
      { line: 2, message: expect.stringContaining("only src/store/sqlite may import node:sqlite") },
    ]);
    expect(await restrictions("src/store/sqlite/sqlite-store.ts", ['import pg from "pg";', 'import { DatabaseSync } from "node:sqlite";'])).toEqual([
      { line: 1, message: expect.stringContaining("only src/store/postgres may import pg") },
    ]);
  });

  it("every folder of src/ belongs to a layer, and that layer's whole guard list applies to it", async () => {
    const folders = readdirSync(join(root, "src"), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => relative(join(root, "src"), join(entry.parentPath, entry.name)));
    expect(folders.length).toBeGreaterThan(10);
    for (const folder of ["", ...folders]) {
      // The layer is the longest key of `layers` that is the folder or one of its parents.
      const owner = Object.keys(layers)
        .filter((layer) => layer !== "root" && (folder === layer || folder.startsWith(`${layer}/`)))
        .sort((a, b) => b.length - a.length)[0] ?? (folder === "" ? "root" : undefined);
      expect(owner, `src/${folder} belongs to no layer of eslint.config.js`).toBeDefined();
      const file = join(root, "src", folder, "probe.ts");
      const config = (await eslint.calculateConfigForFile(file)) as { rules: Record<string, unknown> };
      expect(config.rules["no-restricted-imports"], `src/${folder}`).toEqual([2, restrictedImports(owner ?? "")]);
    }
  });
});
