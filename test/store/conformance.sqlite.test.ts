/** The Store conformance suite on SQLite: a fresh temp file per test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store } from "../../src/store/store.ts";
import { describeStoreConformance } from "./conformance.ts";

describeStoreConformance("SQLite store conformance", async () => {
  const dir = mkdtempSync(join(tmpdir(), "belay-store-"));
  const path = join(dir, "belay.db");
  const store = new SqliteStore({ path });
  await store.migrate();
  const opened: Store[] = [store];
  return {
    store,
    // A second connection to the same file, as a second process would have.
    openSibling: async () => {
      const sibling = new SqliteStore({ path });
      opened.push(sibling);
      return sibling;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
