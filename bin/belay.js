#!/usr/bin/env node
// Runs the CLI from the tsc build when there is one, else straight from the TypeScript
// sources (Node ≥ 22.18 strips types itself).
import { existsSync } from "node:fs";

const built = new URL("../dist/cli/main.js", import.meta.url);
await import(existsSync(built) ? built.href : new URL("../src/cli/main.ts", import.meta.url).href);
