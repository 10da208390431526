// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

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
  {
    // Layering (DESIGN / DEVELOPERS.md): core is pure and imports nothing of ours but core.
    files: ["src/core/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["../engine/*", "../store/*", "../runners/*", "../cli/*", "../server/*", "node:*"] }],
    },
  },
  {
    // The web UI runs in the browser and talks to the server over HTTP only: it may import
    // types from src/core (the public model), never server, engine or Node code.
    files: ["src/web/**"],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/server/*", "**/engine/*", "**/store/*", "**/runners/*", "**/cli/*", "**/client/*", "node:*"], message: "The web UI talks to the server over HTTP only." },
            { group: ["**/core/*"], allowTypeImports: true, message: "The web UI may import types from src/core, not code." },
          ],
        },
      ],
    },
  },
  {
    // Only the CLI may import the CLI.
    files: ["src/engine/**", "src/store/**", "src/runners/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["../cli/*", "../../cli/*", "../server/*", "../../server/*"] }],
    },
  },
  {
    // Database drivers stay inside their dialect (STYLE habit 1).
    files: ["src/**/*.ts"],
    ignores: ["src/store/postgres/**", "src/core/**", "src/web/**", "src/engine/**", "src/store/sqlite/**", "src/runners/**"],
    rules: {
      "no-restricted-imports": ["error", { paths: [{ name: "pg", message: "only src/store/postgres may import pg" }, { name: "node:sqlite", message: "only src/store/sqlite may import node:sqlite" }] }],
    },
  },
  {
    // The client SDK talks HTTP only: types from core, nothing else of ours.
    files: ["src/client/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["../engine/*", "../server/*", "../store/*", "../runners/*", "../cli/*"] }],
    },
  },
);
