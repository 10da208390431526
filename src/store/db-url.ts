/**
 * Database URLs, as `--db`, `BELAY_DB` and `openBelay({db})` take them: `sqlite:PATH` (relative
 * to Belay's home), `sqlite::memory:`, or `postgres://…` / `postgresql://…` with an optional
 * `?schema=NAME`. One reading for every place that opens or checks a store.
 */
import { resolve } from "node:path";
import { BelayError } from "../core/errors.ts";

export type DbLocation =
  | { dialect: "sqlite"; /** Absolute, or `:memory:`. */ path: string }
  | { dialect: "postgres"; /** The URL the driver sees (without `schema`). */ url: string; schema: string | null };

/** The URL given, else `$BELAY_DB` (an empty one counts as unset), else the SQLite file in the home. */
export function dbUrlOrDefault(db: string | undefined, home: string): string {
  return db ?? (process.env["BELAY_DB"] || `sqlite:${resolve(home, "belay.db")}`);
}

export function parseDbUrl(db: string, home: string): DbLocation {
  if (db.startsWith("postgres://") || db.startsWith("postgresql://")) {
    let parsed: URL;
    try {
      parsed = new URL(db);
    } catch {
      throw new BelayError("INVALID_REQUEST", "the PostgreSQL URL could not be parsed", { details: { field: "db" } });
    }
    // `schema` is Belay's, not libpq's: the driver must not see it.
    const schema = parsed.searchParams.get("schema");
    parsed.searchParams.delete("schema");
    return { dialect: "postgres", url: parsed.toString(), schema };
  }
  if (db.startsWith("sqlite:")) {
    const path = db.slice("sqlite:".length);
    return { dialect: "sqlite", path: path === ":memory:" ? path : resolve(home, path) };
  }
  throw new BelayError("INVALID_REQUEST", `unsupported database URL "${db}": use sqlite:PATH, sqlite::memory: or postgres://…`, { details: { field: "db" } });
}
