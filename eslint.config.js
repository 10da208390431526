// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

/**
 * The layers of src/ and what each must not import (docs/architecture.md: arrows point inward).
 * ESLint keeps only the last `no-restricted-imports` of the blocks matching a file, so each
 * layer gets exactly one block with its whole list, computed here; the groups of files are
 * disjoint, and test/lint/layers.test.ts checks each guard fires and that every folder of src/
 * belongs to a layer.
 *
 * `forbid`: folders of src/ it must not import. `node`: no `node:*` (pure or browser code).
 * `typesFrom`: folders it may import types from but not code. Database drivers are guarded for
 * every layer but their own dialect (`drivers`).
 *
 * @type {Record<string, { files: string[], forbid: string[], typesFrom?: string[], node?: boolean }>}
 */
export const layers = {
  core: { files: ["src/core/**"], forbid: ["engine", "store", "runners", "server", "client", "cli", "mcp", "web", "fake-remote"], node: false },
  store: { files: ["src/store/*"], forbid: ["engine", "runners", "server", "client", "cli", "mcp", "web"] },
  "store/postgres": { files: ["src/store/postgres/**"], forbid: ["engine", "runners", "server", "client", "cli", "mcp", "web"] },
  "store/sqlite": { files: ["src/store/sqlite/**"], forbid: ["engine", "runners", "server", "client", "cli", "mcp", "web"] },
  runners: { files: ["src/runners/**"], forbid: ["engine", "store", "server", "client", "cli", "mcp", "web"] },
  engine: { files: ["src/engine/**"], forbid: ["server", "client", "cli", "mcp", "web"] },
  server: { files: ["src/server/**"], forbid: ["cli", "web"] },
  mcp: { files: ["src/mcp/**"], forbid: ["cli", "web"] },
  // The client runs in Node and in the browser (the web UI bundles it): no Node module.
  client: { files: ["src/client/**"], forbid: ["engine", "store", "runners", "server", "cli", "mcp", "web"], node: false },
  // The web UI runs in the browser and talks to the server over HTTP only, through src/client.
  web: { files: ["src/web/**"], forbid: ["server", "engine", "store", "runners", "cli", "mcp", "fake-remote"], typesFrom: ["core"], node: false },
  "fake-remote": { files: ["src/fake-remote/**"], forbid: ["engine", "store", "runners", "server", "client", "cli", "mcp", "web"] },
  cli: { files: ["src/cli/**"], forbid: ["web"] },
  root: { files: ["src/*"], forbid: ["cli", "web"] },
};

/** Each driver may be imported only by its dialect's folder. */
export const drivers = { pg: "store/postgres", "node:sqlite": "store/sqlite" };

/**
 * The whole `no-restricted-imports` option of one layer.
 * @param {string} layer a key of `layers`
 */
export function restrictedImports(layer) {
  const guard = layers[layer];
  if (guard === undefined) throw new Error(`no layer ${layer}`);
  const { forbid, typesFrom = [], node = true } = guard;
  return {
    paths: Object.entries(drivers)
      .filter(([, owner]) => owner !== layer)
      .map(([name, owner]) => ({ name, message: `only src/${owner} may import ${name}` })),
    patterns: [
      ...forbid.map((folder) => ({ group: [`**/${folder}/*`], message: `src/${layer} must not import src/${folder} (docs/architecture.md: arrows point inward)` })),
      ...typesFrom.map((folder) => ({ group: [`**/${folder}/*`], allowTypeImports: true, message: `src/${layer} may import types from src/${folder}, not code` })),
      ...(node ? [] : [{ group: ["node:*"], message: `src/${layer} must not import Node's modules (it is pure, or runs in the browser)` }]),
    ],
  };
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".belay/", "test-artifacts/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
      // Late-bound references between parts that refer to each other (see src/engine/open.ts).
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  // Browser globals for the web UI; what it may import is in `layers` below.
  { files: ["src/web/**"], languageOptions: { globals: { ...globals.browser } } },
  ...Object.entries(layers).map(([layer, { files }]) => ({ files, rules: { "no-restricted-imports": ["error", restrictedImports(layer)] } })),
);
