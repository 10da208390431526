/**
 * Sign-in links (DESIGN §6) against a real server: no address is trusted — a curl from
 * loopback gets no token from /ui/local-token or any other route — and a sign-in code is
 * made only by an admin (or printed by `belay serve`), works once, expires, and opens a
 * session token that expires and can be revoked.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createSignIn } from "../../src/server/sign-in.ts";
import type { SignInOptions } from "../../src/server/sign-in.ts";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer } from "../../src/server/serve.ts";
import { until } from "../helpers.ts";
import { testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";

const running: Array<{ server: RunningServer; home: string }> = [];
afterEach(async () => {
  for (const { server, home } of running.splice(0)) {
    await server.close({ graceMs: 100 });
    rmSync(home, { recursive: true, force: true });
  }
});

async function realServer(options: { signIn?: SignInOptions } = {}): Promise<RunningServer> {
  const home = mkdtempSync(join(tmpdir(), "belay-signin-"));
  const server = await startServer({ home, port: 0, concurrency: 0, logger: pino({ level: "silent" }), ...options });
  running.push({ server, home });
  return server;
}

/** What curl sends: no Origin, no Sec-Fetch-Site, a loopback Host. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read field by field
async function curl(url: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<{ status: number; text: string; json: () => any }> {
  const headers: Record<string, string> = { "user-agent": "curl/8.5.0", accept: "*/*" };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (init.token !== undefined) headers["authorization"] = `Bearer ${init.token}`;
  const res = await fetch(url, { method: init.method ?? "GET", headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

function codeOf(link: string): string {
  const code = /#sign-in=([A-Za-z0-9_-]+)$/.exec(link)?.[1];
  if (code === undefined) throw new Error(`no code in ${link}`);
  return code;
}

async function signInServer(options: SignInOptions = {}, authFailuresPerMinute?: number): Promise<TestServer> {
  return testServer({ concurrency: 0 }, authFailuresPerMinute === undefined ? {} : { authFailuresPerMinute }, (engine) => ({ extensions: [createSignIn(engine.store, options).extension] }));
}

describe("no loopback trust", () => {
  it("a curl from 127.0.0.1 gets no token: /ui/local-token is gone, and the sign-in exchange wants a code", async () => {
    const server = await realServer();
    const adminToken = readFileSync(join(server.home, "admin.token"), "utf8").trim();
    for (const host of [server.url, server.url.replace("127.0.0.1", "localhost")]) {
      const res = await curl(`${host}/ui/local-token`);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain(adminToken);
      const empty = await curl(`${host}/ui/sign-in`, { method: "POST", body: {} });
      expect(empty.status).toBe(400);
      const guessed = await curl(`${host}/ui/sign-in`, { method: "POST", body: { code: "guess" } });
      expect(guessed.status).toBe(401);
      expect(guessed.json().error.code).toBe("UNAUTHENTICATED");
      expect(guessed.text).not.toMatch(/belay_/);
    }
  });
});

describe("sign-in codes", () => {
  it("`belay serve`'s link: its code opens an admin session once; the second use is refused", async () => {
    const server = await realServer();
    expect(server.signInUrl).toMatch(new RegExp(`^${server.url}/#sign-in=[A-Za-z0-9_-]{43}$`));
    expect(Date.parse(server.signInExpiresAt) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    const code = codeOf(server.signInUrl);
    const first = await curl(`${server.url}/ui/sign-in`, { method: "POST", body: { code } });
    expect(first.status).toBe(200);
    const session = first.json() as { token: string; id: string; role: string; principal: string; expiresAt: string };
    expect(session).toMatchObject({ role: "admin", principal: "admin" });
    // The session expires (12 hours by default) and is a token like any other.
    expect(Date.parse(session.expiresAt) - Date.now()).toBeGreaterThan(11 * 3600_000);
    expect(Date.parse(session.expiresAt) - Date.now()).toBeLessThanOrEqual(12 * 3600_000);
    expect((await curl(`${server.url}/api/v1/tokens`, { token: session.token })).status).toBe(200);

    const again = await curl(`${server.url}/ui/sign-in`, { method: "POST", body: { code } });
    expect(again.status).toBe(401);
    expect(again.json().error.message).toMatch(/already used, or has expired/);
    expect(again.text).not.toContain("belay_");
  });

  it("two exchanges of one code at the same time: exactly one gets a session", async () => {
    const s = await signInServer();
    const { code } = (await s.call("admin", "POST", "/api/v1/sign-in-codes", {})).json as { code: string };
    const answers = await Promise.all(Array.from({ length: 8 }, () => s.app.inject({ method: "POST", url: "/ui/sign-in", payload: { code } })));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
  });

  it("an expired code is refused; the session it would have opened does not exist", async () => {
    const s = await signInServer({ codeTtlMs: 150 });
    const made = await s.call("admin", "POST", "/api/v1/sign-in-codes", {});
    expect(made.statusCode).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const res = await s.app.inject({ method: "POST", url: "/ui/sign-in", payload: { code: made.json.code } });
    expect(res.statusCode).toBe(401);
    expect((await s.call("admin", "GET", "/api/v1/tokens")).json.items.filter((t: { name: string }) => t.name === "web UI session")).toEqual([]);
  });

  it("only an admin makes codes; a code gives the role asked (default the admin's), and its session expires", async () => {
    const s = await signInServer({ sessionTtlSeconds: 1 });
    for (const role of ["viewer", "user", "operator"] as const) {
      const res = await s.call(role, "POST", "/api/v1/sign-in-codes", { role });
      expect({ role, status: res.statusCode, code: res.json.error.code }).toEqual({ role, status: 403, code: "FORBIDDEN" });
    }
    expect((await s.call(null, "POST", "/api/v1/sign-in-codes", {})).statusCode).toBe(401);
    expect((await s.call("admin", "POST", "/api/v1/sign-in-codes", { role: "root" })).statusCode).toBe(400);

    const made = await s.call("admin", "POST", "/api/v1/sign-in-codes", { role: "viewer", principal: "vera" });
    expect(made.json).toMatchObject({ role: "viewer", principal: "vera", path: `/#sign-in=${made.json.code as string}` });
    const session = (await s.app.inject({ method: "POST", url: "/ui/sign-in", payload: { code: made.json.code } })).json() as { token: string; role: string };
    expect(session.role).toBe("viewer");
    const asSession = (method: "GET" | "POST", url: string, payload?: object) =>
      s.app.inject({ method, url, headers: { authorization: `Bearer ${session.token}` }, ...(payload === undefined ? {} : { payload }) });
    expect((await asSession("GET", "/api/v1/jobs")).statusCode).toBe(200);
    expect((await asSession("POST", "/api/v1/jobs", { command: ["true"] })).statusCode).toBe(403);
    expect((await asSession("POST", "/api/v1/sign-in-codes", {})).statusCode).toBe(403);
    // One second later the session is over.
    const expired = await until(() => asSession("GET", "/api/v1/jobs"), (r) => r.statusCode !== 200, 5000);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired/);
  });

  it("a revoked session stops at once", async () => {
    const s = await signInServer();
    const { code } = (await s.call("admin", "POST", "/api/v1/sign-in-codes", {})).json as { code: string };
    const session = (await s.app.inject({ method: "POST", url: "/ui/sign-in", payload: { code } })).json() as { token: string; id: string };
    expect((await s.call("admin", "DELETE", `/api/v1/tokens/${session.id}`)).statusCode).toBe(204);
    expect((await s.app.inject({ url: "/api/v1/jobs", headers: { authorization: `Bearer ${session.token}` } })).statusCode).toBe(401);
  });

  it("refused codes count against the address's 401 limit", async () => {
    const s = await signInServer({}, 3);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await s.app.inject({ method: "POST", url: "/ui/sign-in", remoteAddress: "203.0.113.5", payload: { code: `guess${i}` } })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it("the new routes are in the OpenAPI document; the exchange needs no bearer token", async () => {
    const s = await signInServer();
    const doc = (await s.call(null, "GET", "/api/v1/openapi.json")).json;
    expect(doc.paths["/api/v1/sign-in-codes"].post.responses["201"]).toBeDefined();
    expect(doc.paths["/ui/sign-in"].post.security).toEqual([]);
    expect(Object.keys(doc.paths)).not.toContain("/ui/local-token");
  });
});
