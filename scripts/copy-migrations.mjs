// tsc does not copy non-TypeScript files: put each dialect's numbered SQL migrations next to
// its compiled migrate.js, where it looks for them.
import { cpSync } from "node:fs";

for (const dialect of ["sqlite", "postgres"]) {
  cpSync(`src/store/${dialect}/migrations`, `dist/store/${dialect}/migrations`, { recursive: true });
}
