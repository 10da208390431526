/**
 * Fail closed (DESIGN §6): a route that declares no role stops the server from starting, and
 * refused credentials are rate limited per client address.
 */
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/server/app.ts";
import { openTestEngine, tempHome } from "../helpers.ts";
import { testServer } from "./helpers.ts";

describe("every route declares its role", () => {
  it("a route without a role, or with an unknown one, is a startup error", async () => {
    const engine = await openTestEngine({ home: tempHome(), concurrency: 0 });
    try {
      const withRoute = (register: (api: FastifyInstance) => void): Promise<FastifyInstance> => buildApp({ engine, extensions: { registerApiRoutes: register } });
      await expect(withRoute((api) => api.get("/forgotten", async () => ({ secret: "leaked" })))).rejects.toThrow(
        "route GET /api/v1/forgotten declares no role: every route needs config.role (viewer, user, operator, admin, public)",
      );
      await expect(withRoute((api) => api.post("/misspelt", { config: { role: "admn" as "admin" } }, async () => ({})))).rejects.toThrow('declares the unknown role "admn"');
      await expect(buildApp({ engine, extensions: { registerRootRoutes: (app) => app.get("/also-forgotten", async () => ({})) } })).rejects.toThrow("route GET /also-forgotten declares no role");
      // With a role it starts and checks it.
      const app = await withRoute((api) => api.get("/declared", { config: { role: "admin" } }, async () => ({ ok: true })));
      expect((await app.inject({ url: "/api/v1/declared" })).statusCode).toBe(401);
      await app.close();
    } finally {
      await engine.close();
    }
  });
});

describe("refused credentials are rate limited per address", () => {
  it("past the limit a bad token gets 429 RATE_LIMITED, a good one still works, and another address is not affected", async () => {
    const s = await testServer({ concurrency: 0 }, { authFailuresPerMinute: 5 });
    const attempt = (authorization: string | null, remoteAddress = "203.0.113.7") =>
      s.app.inject({ url: "/api/v1/jobs", remoteAddress, headers: authorization === null ? {} : { authorization } });
    for (let i = 0; i < 5; i += 1) {
      const res = await attempt(i % 2 === 0 ? "Bearer belay_guess" : null);
      expect(res.statusCode).toBe(401);
    }
    const limited = await attempt("Bearer belay_guess");
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatchObject({ code: "RATE_LIMITED", details: { retryAfterSeconds: expect.any(Number) } });
    expect(limited.json().error.message).toMatch(/too many refused credentials/);
    // A valid token from the same address is neither counted nor refused.
    expect((await attempt(`Bearer ${s.tokens.viewer}`)).statusCode).toBe(200);
    expect((await attempt(null)).statusCode).toBe(429);
    // Another address has its own count.
    expect((await attempt("Bearer belay_guess", "198.51.100.9")).statusCode).toBe(401);
    // Public routes are not touched.
    expect((await s.app.inject({ url: "/healthz", remoteAddress: "203.0.113.7" })).statusCode).toBe(200);
  });
});
