/** API tokens: only a hash of the secret is stored. */
import type { TokenRecord } from "../../store.ts";
import { firstRow, named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";
import { rowToToken } from "../rows.ts";

const tokenColumns = "id, name, principal, role, created_at, last_used_at, revoked_at, expires_at";

/** $1 id, $2 name, $3 principal, $4 role, $5 hash, $6 created_at, $7 last_used_at, $8 revoked_at, $9 expires_at. */
const insertTokenQuery = named(
  "insert_token",
  "INSERT INTO tokens (id, name, principal, role, hash, created_at, last_used_at, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);

export async function insertToken(db: Db, token: TokenRecord, hash: string): Promise<void> {
  await query(db, insertTokenQuery, [token.id, token.name, token.principal, token.role, hash, token.createdAt, token.lastUsedAt, token.revokedAt, token.expiresAt]);
}

/** $1 hash. */
const findTokenQuery = named("find_token", `SELECT ${tokenColumns} FROM tokens WHERE hash = $1 AND revoked_at IS NULL`);

export async function findToken(db: Db, hash: string): Promise<TokenRecord | null> {
  const row = await firstRow(db, findTokenQuery, [hash]);
  return row === undefined ? null : rowToToken(row);
}

const listTokensQuery = named("list_tokens", `SELECT ${tokenColumns} FROM tokens ORDER BY created_at, id`);

export async function listTokens(db: Db): Promise<TokenRecord[]> {
  return (await rows(db, listTokensQuery)).map(rowToToken);
}

/** $1 id, $2 time: the first revocation's time is kept. */
const revokeTokenQuery = named("revoke_token", "UPDATE tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1");

export async function revokeToken(db: Db, id: string, at: string): Promise<boolean> {
  return ((await query(db, revokeTokenQuery, [id, at])).rowCount ?? 0) > 0;
}

/** $1 id, $2 time, $3 not before: at most one write per token in each interval. */
const touchTokenQuery = named("touch_token", "UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)");

export async function touchToken(db: Db, id: string, at: string, notBefore: string): Promise<void> {
  await query(db, touchTokenQuery, [id, at, notBefore]);
}

const countTokensQuery = named("count_tokens", "SELECT count(*) AS n FROM tokens");

export async function countTokens(db: Db): Promise<number> {
  return Number((await firstRow(db, countTokensQuery))?.["n"] ?? 0);
}
