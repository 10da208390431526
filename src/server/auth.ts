/**
 * Tokens and roles (DESIGN §5). A token is 32 random bytes shown once; only its SHA-256 is
 * stored (a token has 256 bits of entropy, so a fast hash is enough: nothing to brute-force).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BelayError } from "../core/errors.ts";
import { roleAtLeast, roles } from "../core/policy.ts";
import { newId } from "../engine/ids.ts";
import type { TokenStore } from "../engine/store-views.ts";
import type { Role, TokenRecord } from "../store/store.ts";
import type { ActingBelay } from "../engine/acting.ts";
import type { Belay } from "../engine/engine.ts";

export { roles } from "../core/policy.ts";

export interface Caller {
  tokenId: string;
  principal: string;
  role: Role;
}

export function hasRole(caller: Caller, needed: Role): boolean {
  return roleAtLeast(caller.role, needed);
}

export function requireRole(caller: Caller, needed: Role, action: string, rule?: string): void {
  if (!hasRole(caller, needed)) {
    throw new BelayError("FORBIDDEN", `${action} needs the ${needed} role${rule === undefined ? "" : ` (policy rule ${rule})`}; this token has ${caller.role}`, {
      details: { needed, role: caller.role, ...(rule === undefined ? {} : { rule }) },
    });
  }
}

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export interface NewToken {
  name: string;
  role: Role;
  principal?: string;
  /** Seconds from now until it stops working; absent: never. */
  expiresInSeconds?: number;
}

export async function createToken(store: TokenStore, input: NewToken): Promise<{ secret: string; token: TokenRecord }> {
  const secret = `belay_${randomBytes(32).toString("base64url")}`;
  const now = Date.now();
  const token: TokenRecord = {
    id: newId(),
    name: input.name,
    principal: input.principal ?? input.name,
    role: input.role,
    createdAt: new Date(now).toISOString(),
    lastUsedAt: null,
    revokedAt: null,
    expiresAt: input.expiresInSeconds === undefined ? null : new Date(now + input.expiresInSeconds * 1000).toISOString(),
  };
  await store.insertToken(token, hashToken(secret));
  return { secret, token };
}

export async function authenticate(store: TokenStore, header: string | undefined): Promise<Caller> {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined) {
    throw new BelayError("UNAUTHENTICATED", "missing bearer token: send Authorization: Bearer <token>");
  }
  const token = await store.findToken(hashToken(match[1]));
  if (token === null) throw new BelayError("UNAUTHENTICATED", "unknown or revoked token");
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= Date.now()) {
    throw new BelayError("UNAUTHENTICATED", `token expired at ${token.expiresAt}`, { details: { expiresAt: token.expiresAt } });
  }
  return { tokenId: token.id, principal: token.principal, role: token.role };
}

/**
 * On a store with no token yet, create an admin token and write it to `<home>/admin.token`
 * (mode 0600), which the CLI reads by default. Returns the file's path, or null if tokens existed.
 */
export async function ensureAdminToken(store: TokenStore, home: string): Promise<string | null> {
  const path = join(home, "admin.token");
  if ((await store.countTokens()) > 0) return existsSync(path) ? path : null;
  const { secret } = await createToken(store, { name: "admin", role: "admin" });
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return path;
}

/**
 * Fail closed (DESIGN §6): every route states the least role that may call it, or `public`.
 * Called for each route as it is registered; a route without one (or with a misspelt one)
 * stops the server from starting instead of being served without a check.
 */
export function assertRouteRole(route: { method: string | string[]; url: string; config?: { role?: unknown } }): void {
  const role = route.config?.role;
  if (role === "public" || (typeof role === "string" && (roles as readonly string[]).includes(role))) return;
  const method = Array.isArray(route.method) ? route.method.join(",") : route.method;
  throw new Error(
    `route ${method} ${route.url} declares ${role === undefined ? "no role" : `the unknown role ${JSON.stringify(role)}`}: ` +
      `every route needs config.role (${[...roles, "public"].join(", ")})`,
  );
}

/** The engine as a caller's principal: every call checked against the policy (`core/policy.ts`). */
export function acting(engine: Belay, caller: Caller): ActingBelay {
  return engine.as({ name: caller.principal, role: caller.role });
}
