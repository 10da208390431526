/**
 * Under `--run-as`, the node's own files must be out of the tasks' reach (DESIGN §6): the
 * home is traversable (a task must reach its work dir) but not listable; the SQLite file
 * and its WAL, the admin token and the lock are the node user's alone. Work and artifact
 * directories are handled per attempt by the process runner.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { DbLocation } from "../store/db-url.ts";

export function hardenHome(home: string, db: DbLocation): void {
  chmodSync(home, 0o711);
  for (const dir of ["work", "artifacts"]) {
    mkdirSync(join(home, dir), { recursive: true });
    chmodSync(join(home, dir), 0o711);
  }
  // Everything else directly in the home (tokens, the database, its lock) is private.
  for (const entry of readdirSync(home, { withFileTypes: true })) {
    if (entry.isFile()) chmodSync(join(home, entry.name), 0o600);
  }
  if (db.dialect === "sqlite" && db.path !== ":memory:") {
    // SQLite gives the -wal and -shm files the database file's mode when it creates them.
    for (const path of [db.path, `${db.path}-wal`, `${db.path}-shm`, `${db.path}.lock`]) if (existsSync(path)) chmodSync(path, 0o600);
  }
}
