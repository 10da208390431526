/**
 * Authentication on every route, for every kind of credential: none, garbled, revoked,
 * expired, and a valid token of each role. test/server/roles.test.ts pins which role each
 * route needs against DESIGN §5; this test takes that role from the route itself (its
 * `config.role`, reported by a probe on each answer) and checks, for every route:
 * - a missing, garbled, unknown, revoked or expired token is 401 UNAUTHENTICATED — before
 *   anything else is looked at, so also with a broken body or path — and an expired token is
 *   told that it expired;
 * - a valid token whose role is below the route's is 403 FORBIDDEN, also with a broken body
 *   or path (the role decides first; validation only matters to who may call);
 * - a valid token with the role is let through (neither 401 nor 403);
 * - public routes ignore credentials, good or bad.
 * Then token expiry end to end: POST /tokens `expiresInSeconds`, and `belay token create --expires-in`.
 */
import { describe, expect, it } from "vitest";
import { errorCodes } from "../../src/core/errors.ts";
import type { Role } from "../../src/store/store.ts";
import { until } from "../helpers.ts";
import { startCliServer } from "../cli/helpers.ts";
import { fuzzServer } from "./fuzz-server.ts";
import type { OpenApiDoc } from "./requests.ts";
import { appRoutes, openApiPath, routeName, routeRoleHeader } from "./routes.ts";
import type { AppRoute } from "./routes.ts";
import type { Schema } from "./schema-arbitraries.ts";

const rank: Record<Role, number> = { viewer: 0, user: 1, operator: 2, admin: 3 };

interface Caller {
  name: string;
  authorization: string | null;
  /** The role of a valid token; null for credentials that must be refused. */
  role: Role | null;
  /** A user acting on a job it does not own. */
  stranger?: boolean;
  /** What the 401 message must say. */
  message?: RegExp;
}

/** The smallest body a schema accepts: required fields only, simplest values. */
function minimalValue(schema: Schema | undefined): unknown {
  if (schema === undefined) return {};
  if (schema.enum !== undefined) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object":
      return Object.fromEntries((schema.required ?? []).map((name) => [name, minimalValue(schema.properties?.[name])]));
    case "array":
      return [];
    case "integer":
    case "number":
      return schema.minimum ?? 0;
    case "boolean":
      return false;
    case "string":
      return schema.pattern === undefined ? "x".repeat(Math.max(1, schema.minLength ?? 1)) : "0190a7a4-0000-7000-8000-000000000000";
    default:
      return {};
  }
}

type Variant = "well-formed" | "broken body" | "broken path";

function request(route: AppRoute, doc: OpenApiDoc, ids: { job: string; webhook: string; token: string; cancellation: string }, variant: Variant): { url: string; payload?: string; contentType?: string } {
  const id = route.path.startsWith("/api/v1/webhooks/") ? ids.webhook : route.path.startsWith("/api/v1/tokens/") ? ids.token : route.path.startsWith("/api/v1/cancellations/") ? ids.cancellation : ids.job;
  const url = route.path
    .replace(":id", variant === "broken path" ? "not-a-uuid" : id)
    .replace(":key", "main")
    .replace("*", "history");
  // The event stream of a job nobody has ends at once (404) for a caller let through, instead of streaming forever.
  if (route.path === "/api/v1/events") return { url: `${url}?jobId=0190a7a4-0000-7000-8000-000000000000` };
  if (route.method === "GET" || route.method === "DELETE") return { url };
  if (variant === "broken body") return { url, payload: '{"unterminated', contentType: "application/json" };
  const schema = doc.paths[openApiPath(route.path)]?.[route.method.toLowerCase()]?.requestBody?.content?.["application/json"]?.schema;
  return { url, payload: JSON.stringify(minimalValue(schema)), contentType: "application/json" };
}

describe("authentication on every route", () => {
  it("refuses missing, garbled, revoked and expired tokens with 401, too-small roles with 403, whatever the request", { timeout: 120_000 }, async () => {
    const server = await fuzzServer();
    const { secrets, fixtures } = server;
    const doc = (await server.app.inject({ url: "/api/v1/openapi.json" })).json<OpenApiDoc>();
    const bearer = (token: string): string => `Bearer ${token}`;
    const refused = (name: string, authorization: string | null, message = /token/): Caller => ({ name, authorization, role: null, message });
    const callers: Caller[] = [
      refused("no header", null, /missing bearer token/),
      refused("empty header", ""),
      refused("scheme only", "Bearer"),
      refused("scheme and space", "Bearer "),
      refused("basic auth", "Basic YWRtaW46c2VjcmV0"),
      refused("other scheme", `Token ${secrets.admin}`),
      refused("no scheme", secrets.admin),
      refused("two tokens", `Bearer ${secrets.admin} ${secrets.admin}`),
      refused("truncated token", bearer(secrets.admin.slice(0, -1)), /unknown or revoked/),
      refused("extended token", bearer(`${secrets.admin}x`), /unknown or revoked/),
      refused("made-up token", bearer("belay_not-a-real-token"), /unknown or revoked/),
      refused("huge token", bearer("a".repeat(64 * 1024)), /unknown or revoked/),
      refused("revoked admin token", bearer(secrets.revoked), /unknown or revoked/),
      refused("expired admin token", bearer(secrets.expired), /expired at 2001-01-02T00:00:00.000Z/),
      { name: "viewer", authorization: bearer(secrets.viewer), role: "viewer" },
      { name: "user (owner)", authorization: bearer(secrets.user), role: "user" },
      { name: "another user", authorization: bearer(secrets.otherUser), role: "user", stranger: true },
      { name: "operator", authorization: bearer(secrets.operator), role: "operator" },
      { name: "admin", authorization: bearer(secrets.admin), role: "admin" },
      // The scheme is case-insensitive (RFC 9110), and surrounding blanks are tolerated.
      { name: "admin, lower-case scheme", authorization: `bearer ${secrets.admin}`, role: "admin" },
      { name: "admin, extra blanks", authorization: `Bearer   ${secrets.admin}  `, role: "admin" },
    ];
    // The user's queued job (fixture 0): owner routes let "uma" through, not "otto".
    const ids = { job: fixtures.jobIds[0] ?? "", webhook: fixtures.webhookIds[0] ?? "", token: fixtures.tokenIds[0] ?? "", cancellation: fixtures.cancellationIds[0] ?? "" };

    const mismatches: unknown[] = [];
    let checked = 0;
    for (const route of appRoutes(server.app)) {
      // The route's role, as its answer to a request without a token reports it (an answer
      // the route writes itself — /mcp hijacks its reply — carries no report).
      const probe = await server.app.inject({ method: route.method as "GET", url: request(route, doc, ids, "well-formed").url });
      const declared = probe.headers[routeRoleHeader] as Role | "public" | undefined;
      if (declared === undefined) {
        mismatches.push({ route: routeName(route), problem: "no route role reported" });
        continue;
      }
      const variants: Variant[] = ["well-formed"];
      if (route.method !== "GET" && route.method !== "DELETE") variants.push("broken body");
      if (route.path.includes(":")) variants.push("broken path");
      for (const variant of variants) {
        for (const caller of callers) {
          const { url, payload, contentType } = request(route, doc, ids, variant);
          const headers: Record<string, string> = {};
          if (caller.authorization !== null) headers["authorization"] = caller.authorization;
          if (contentType !== undefined) headers["content-type"] = contentType;
          if (route.path === "/mcp") headers["accept"] = "application/json, text/event-stream";
          const res = await server.app.inject({ method: route.method as "GET", url, headers, ...(payload === undefined ? {} : { payload }) });
          checked += 1;
          let error: { code?: string; message?: string } | undefined;
          try {
            error = (res.json() as { error?: { code?: string; message?: string } }).error;
          } catch {
            error = undefined;
          }
          const where = { route: routeName(route), variant, caller: caller.name, status: res.statusCode, error };
          const needed = declared === "public" ? null : declared;
          // An owner route: a user acts on its own jobs only (the role check proper is `user`).
          const ownerRoute = needed === "user" && route.path.startsWith("/api/v1/jobs/:id");
          let want: "allowed" | "UNAUTHENTICATED" | "FORBIDDEN";
          if (needed === null) want = "allowed";
          else if (caller.role === null) want = "UNAUTHENTICATED";
          else if (rank[caller.role] < rank[needed]) want = "FORBIDDEN";
          // Ownership is checked on a well-formed request only: with a broken one there is no job to own.
          else if (ownerRoute && caller.stranger === true && variant === "well-formed") want = "FORBIDDEN";
          else want = "allowed";
          const got = res.statusCode === 401 ? "UNAUTHENTICATED" : res.statusCode === 403 ? "FORBIDDEN" : "allowed";
          if (res.statusCode >= 500) mismatches.push({ ...where, problem: "5xx" });
          else if (got !== want) mismatches.push({ ...where, want });
          else if (want !== "allowed") {
            if (error?.code !== want || errorCodes[want] !== res.statusCode) mismatches.push({ ...where, problem: `want code ${want}` });
            if (want === "UNAUTHENTICATED" && caller.message !== undefined && !caller.message.test(error?.message ?? "")) mismatches.push({ ...where, problem: `message should match ${caller.message}` });
            const details = (error as { details?: { needed?: string } } | undefined)?.details;
            if (want === "FORBIDDEN" && caller.stranger !== true && details?.needed !== needed) mismatches.push({ ...where, problem: `details.needed should be ${needed}` });
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(30 * callers.length);
    await server.close();
  });
});

describe("token expiry", () => {
  it("POST /tokens with expiresInSeconds: the token works until then, then gets 401 saying it expired", { timeout: 60_000 }, async () => {
    const server = await fuzzServer();
    const admin = { authorization: `Bearer ${server.secrets.admin}` };
    const post = (body: unknown) => server.app.inject({ method: "POST", url: "/api/v1/tokens", headers: admin, payload: body as object });
    for (const bad of [0, -1, 1.5, "60", 315_360_001, null]) {
      const res = await post({ name: "bad", role: "viewer", expiresInSeconds: bad });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().error.code).toBe("INVALID_REQUEST");
    }
    expect((await post({ name: "both", role: "viewer", expiresAt: "2030-01-01T00:00:00Z" })).statusCode).toBe(400);

    const before = Date.now();
    const created = await post({ name: "short-lived", role: "viewer", expiresInSeconds: 2 });
    const after = Date.now();
    expect(created.statusCode).toBe(201);
    const token = created.json() as { token: string; id: string; expiresAt: string };
    expect(Date.parse(token.expiresAt)).toBeGreaterThanOrEqual(before + 2000 - 1);
    expect(Date.parse(token.expiresAt)).toBeLessThanOrEqual(after + 2000 + 1);
    const list = (await server.app.inject({ url: "/api/v1/tokens", headers: admin })).json() as { items: Array<{ id: string; expiresAt: string | null }> };
    expect(list.items.find((t) => t.id === token.id)?.expiresAt).toBe(token.expiresAt);
    // Tokens made without a lifetime never expire (the fixture "expired" token was made with one).
    const others = (list.items as Array<{ id: string; name: string; expiresAt: string | null }>).filter((t) => t.id !== token.id && t.name !== "expired");
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((t) => t.expiresAt === null)).toBe(true);

    const asIt = { authorization: `Bearer ${token.token}` };
    const read = (): Promise<{ statusCode: number; body: string }> => server.app.inject({ url: "/api/v1/jobs", headers: asIt });
    // Until its time the token works (the check is made on each request, so this read may only fail once it has expired).
    const first = await read();
    if (Date.now() < Date.parse(token.expiresAt)) expect(first.statusCode).toBe(200);
    const refused = await until(read, (res) => res.statusCode !== 200, 20_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(token.expiresAt));
    expect(refused.statusCode).toBe(401);
    const error = (JSON.parse(refused.body) as { error: { code: string; message: string; details?: { expiresAt?: string } } }).error;
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toBe(`token expired at ${token.expiresAt}`);
    expect(error.details?.expiresAt).toBe(token.expiresAt);
    await server.close();
  });

  it("belay token create --expires-in: the lifetime reaches the server, lists show it, a bad one is a usage error", { timeout: 60_000 }, async () => {
    const cli = await startCliServer({ concurrency: 0 });
    try {
      const before = Date.now();
      const created = await cli.run(["token", "create", "etl", "--role", "user", "--expires-in", "30d", "--json"]);
      expect(created.code, created.stderr).toBe(0);
      const token = JSON.parse(created.stdout) as { id: string; expiresAt: string };
      const thirtyDays = 30 * 86_400_000;
      expect(Date.parse(token.expiresAt) - before).toBeGreaterThanOrEqual(thirtyDays - 1000);
      expect(Date.parse(token.expiresAt) - Date.now()).toBeLessThanOrEqual(thirtyDays + 1000);

      const human = await cli.run(["token", "create", "short", "--role", "viewer", "--expires-in", "90m"]);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/^expires\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
      const never = await cli.run(["token", "create", "forever", "--role", "viewer"]);
      expect(never.stdout).toMatch(/^expires\s+never$/m);

      const table = await cli.run(["token", "list"]);
      expect(table.stdout).toMatch(new RegExp(`^${token.id}\\s+etl\\s+etl\\s+user\\s.*active until \\d{4}-`, "m"));
      expect(table.stdout).toMatch(/^\S+\s+forever\s+forever\s+viewer\s.*active$/m);

      for (const bad of ["0d", "30", "1y", "-5m", "abc", "4000w"]) {
        const res = await cli.run(["token", "create", "x", "--role", "viewer", "--expires-in", bad]);
        expect(res.code, bad).toBe(2);
        expect(res.stderr).toContain("--expires-in");
      }
    } finally {
      await cli.close();
    }
  });
});
