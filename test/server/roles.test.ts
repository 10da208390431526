/**
 * Every route × every caller, against DESIGN §5's roles: `viewer` reads; `user` submits and
 * cancels/resumes its own jobs; `operator` cancels and resumes any job and bulk-cancels;
 * `admin` also manages tokens and webhooks. The routes are read from the app itself, so a
 * route added without a row in `rules` fails this test.
 */
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import type { Role } from "../../src/store/store.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { createWebhooks } from "../../src/server/webhooks.ts";
import { appRoutes as allRoutes } from "./app-routes.ts";
import { templateJob, testServer } from "./helpers.ts";
import type { TestServer } from "./helpers.ts";

/**
 * Who may call a route: anyone, a least role, or `owner` (user on its own jobs; operator and
 * admin on any); `otherOwner` is `owner` for a fixture of the other user (so that a route that
 * deletes it is called by its owner after the first user was refused).
 */
type Access = "public" | Role | "owner" | "otherOwner";

interface Fixtures {
  /** A queued job owned by the `user` token's principal ("uma"). */
  jobId: string;
  cancellationId: string;
  webhookId: string;
  /** A schedule owned by "user" ("uma"), and one owned by "otherUser" ("otto"). */
  scheduleId: string;
  otherScheduleId: string;
  /** An id nothing has. */
  unknownId: string;
}

interface Rule {
  access: Access;
  request: (f: Fixtures) => { url: string; body?: unknown };
}

/** Keyed by `METHOD /path` exactly as the app registers it; HEAD routes follow their GET row. */
const rules: Record<string, Rule> = {
  "GET /healthz": { access: "public", request: () => ({ url: "/healthz" }) },
  "GET /readyz": { access: "public", request: () => ({ url: "/readyz" }) },
  "GET /metrics": { access: "public", request: () => ({ url: "/metrics" }) },
  "GET /api/v1/openapi.json": { access: "public", request: () => ({ url: "/api/v1/openapi.json" }) },
  // MCP (docs/mcp.md): any token may connect; each tool call is then checked as its API route.
  "POST /mcp": { access: "viewer", request: () => ({ url: "/mcp", body: { jsonrpc: "2.0", id: 1, method: "ping" } }) },
  "GET /mcp": { access: "viewer", request: () => ({ url: "/mcp" }) },
  "DELETE /mcp": { access: "viewer", request: () => ({ url: "/mcp" }) },

  // A template task: what a user may run. Free commands have their own table below.
  "POST /api/v1/jobs": { access: "user", request: () => ({ url: "/api/v1/jobs", body: templateJob("true") }) },
  "POST /api/v1/jobs/batch": { access: "user", request: () => ({ url: "/api/v1/jobs/batch", body: { jobs: [templateJob("true")] } }) },
  "GET /api/v1/jobs": { access: "viewer", request: () => ({ url: "/api/v1/jobs" }) },
  "GET /api/v1/jobs/:id": { access: "viewer", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}` }) },
  "GET /api/v1/jobs/:id/events": { access: "viewer", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/events` }) },
  "GET /api/v1/jobs/:id/tree": { access: "viewer", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/tree` }) },
  "GET /api/v1/jobs/:id/logs": { access: "viewer", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/logs` }) },
  "GET /api/v1/jobs/:id/cancellation": { access: "viewer", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/cancellation` }) },
  "POST /api/v1/jobs/:id/cancel": { access: "owner", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/cancel`, body: {} }) },
  "POST /api/v1/jobs/:id/tasks/:key/cancel": { access: "owner", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/tasks/main/cancel`, body: {} }) },
  "POST /api/v1/jobs/:id/resume": { access: "owner", request: (f) => ({ url: `/api/v1/jobs/${f.jobId}/resume` }) },
  "POST /api/v1/jobs/cancel": { access: "operator", request: (f) => ({ url: "/api/v1/jobs/cancel", body: { filter: { ids: [f.jobId] }, dryRun: true } }) },
  "GET /api/v1/cancellations": { access: "viewer", request: () => ({ url: "/api/v1/cancellations" }) },
  "GET /api/v1/cancellations/:id": { access: "viewer", request: (f) => ({ url: `/api/v1/cancellations/${f.cancellationId}` }) },
  // An unknown job ends the stream at once (404) for a caller who passed the role check.
  "GET /api/v1/events": { access: "viewer", request: (f) => ({ url: `/api/v1/events?jobId=${f.unknownId}` }) },

  "POST /api/v1/tokens": { access: "admin", request: () => ({ url: "/api/v1/tokens", body: { name: "made-by-roles-test", role: "viewer" } }) },
  "GET /api/v1/whoami": { access: "viewer", request: () => ({ url: "/api/v1/whoami" }) },
  "GET /api/v1/tokens": { access: "admin", request: () => ({ url: "/api/v1/tokens" }) },
  "GET /api/v1/pools": { access: "viewer", request: () => ({ url: "/api/v1/pools" }) },
  // Schedules (DESIGN §7): a template job, what a user may schedule; a repeated name is a 409, which is past the role check.
  "POST /api/v1/schedules": { access: "user", request: () => ({ url: "/api/v1/schedules", body: { name: "roles", cron: "0 3 * * *", job: templateJob("true") } }) },
  "GET /api/v1/schedules": { access: "viewer", request: () => ({ url: "/api/v1/schedules" }) },
  "GET /api/v1/schedules/:id": { access: "viewer", request: (f) => ({ url: `/api/v1/schedules/${f.scheduleId}` }) },
  "POST /api/v1/schedules/:id/pause": { access: "owner", request: (f) => ({ url: `/api/v1/schedules/${f.scheduleId}/pause` }) },
  "POST /api/v1/schedules/:id/resume": { access: "owner", request: (f) => ({ url: `/api/v1/schedules/${f.scheduleId}/resume` }) },
  "DELETE /api/v1/schedules/:id": { access: "otherOwner", request: (f) => ({ url: `/api/v1/schedules/${f.otherScheduleId}` }) },
  "GET /api/v1/queues": { access: "viewer", request: () => ({ url: "/api/v1/queues" }) },
  "POST /api/v1/queues/:name/pause": { access: "operator", request: () => ({ url: "/api/v1/queues/roles-test/pause", body: { reason: "roles test" } }) },
  "POST /api/v1/queues/:name/resume": { access: "operator", request: () => ({ url: "/api/v1/queues/roles-test/resume" }) },
  "DELETE /api/v1/tokens/:id": { access: "admin", request: (f) => ({ url: `/api/v1/tokens/${f.unknownId}` }) },

  "POST /api/v1/webhooks": { access: "admin", request: () => ({ url: "/api/v1/webhooks", body: { url: "https://example.com/hook" } }) },
  "GET /api/v1/webhooks": { access: "admin", request: () => ({ url: "/api/v1/webhooks" }) },
  "DELETE /api/v1/webhooks/:id": { access: "admin", request: (f) => ({ url: `/api/v1/webhooks/${f.unknownId}` }) },
  "GET /api/v1/webhooks/:id/deliveries": { access: "admin", request: (f) => ({ url: `/api/v1/webhooks/${f.webhookId}/deliveries` }) },
};

type CallerName = "anonymous" | "bogus" | "viewer" | "user" | "otherUser" | "operator" | "admin";
const callers: CallerName[] = ["anonymous", "bogus", "viewer", "user", "otherUser", "operator", "admin"];
const rank: Record<Role, number> = { viewer: 0, user: 1, operator: 2, admin: 3 };

type Expected = "allowed" | "UNAUTHENTICATED" | "FORBIDDEN";

function expected(access: Access, caller: CallerName): Expected {
  if (access === "public") return "allowed";
  if (caller === "anonymous" || caller === "bogus") return "UNAUTHENTICATED";
  const role: Role = caller === "otherUser" ? "user" : caller;
  if (access === "owner" || access === "otherOwner") {
    // The fixture belongs to "user" (otherOwner: to "otherUser"); another user may not touch it.
    if (caller === (access === "owner" ? "otherUser" : "user")) return "FORBIDDEN";
    return rank[role] >= rank.user ? "allowed" : "FORBIDDEN";
  }
  return rank[role] >= rank[access] ? "allowed" : "FORBIDDEN";
}

/** The app's routes as `METHOD /path`. */
function appRoutes(app: FastifyInstance): string[] {
  return allRoutes(app).map((route) => `${route.method} ${route.path}`);
}

async function setup(): Promise<{ s: TestServer; fixtures: Fixtures }> {
  const s = await testServer({ concurrency: 0 }, {}, (engine) => {
    const metrics = createMetrics(engine, { defaultMetrics: false });
    const webhooks = createWebhooks(engine);
    return {
      extensions: [metrics.extension, webhooks.extension],
      stop: async () => {
        metrics.stop();
        await webhooks.stop();
      },
    };
  });
  const jobId = (await s.call("user", "POST", "/api/v1/jobs", templateJob("true"))).json.job.id as string;
  const other = (await s.call("user", "POST", "/api/v1/jobs", templateJob("true"))).json.job.id as string;
  const cancellationId = (await s.call("user", "POST", `/api/v1/jobs/${other}/cancel`, {})).json.cancellation.id as string;
  const webhookId = (await s.call("admin", "POST", "/api/v1/webhooks", { url: "https://example.com/hook" })).json.webhook.id as string;
  const scheduleId = (await s.call("user", "POST", "/api/v1/schedules", { name: "fixture", cron: "0 3 * * *", job: templateJob("true") })).json.schedule.id as string;
  const otherScheduleId = (await s.call("otherUser", "POST", "/api/v1/schedules", { name: "fixture", cron: "0 3 * * *", job: templateJob("true") })).json.schedule.id as string;
  return { s, fixtures: { jobId, cancellationId, webhookId, scheduleId, otherScheduleId, unknownId: "0190a7a4-0000-7000-8000-000000000000" } };
}

describe("roles, route by route", () => {
  it("every route of the app has a rule, and the app serves every rule's route", async () => {
    const { s } = await setup();
    const routes = appRoutes(s.app);
    const withRule = (route: string): string => (route.startsWith("HEAD ") ? route.replace(/^HEAD /, "GET ") : route);
    expect(routes.filter((r) => rules[withRule(r)] === undefined)).toEqual([]);
    expect(Object.keys(rules).filter((r) => !routes.includes(r))).toEqual([]);
    // The document lists the same API routes (a cross-check of the parsing).
    const doc = (await s.call(null, "GET", "/api/v1/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) expect(routes).toContain(`${method.toUpperCase()} ${path.replaceAll(/\{(\w+)\}/g, ":$1")}`);
    }
  });

  it("each caller is allowed, 401 UNAUTHENTICATED or 403 FORBIDDEN exactly as DESIGN §5 says", async () => {
    const { s, fixtures } = await setup();
    const tokens: Record<CallerName, string | null> = {
      anonymous: null,
      bogus: "belay_not-a-real-token",
      viewer: s.tokens.viewer,
      user: s.tokens.user,
      otherUser: s.tokens.otherUser,
      operator: s.tokens.operator,
      admin: s.tokens.admin,
    };
    const mismatches: unknown[] = [];
    let checked = 0;
    for (const route of appRoutes(s.app)) {
      const [method, path] = route.split(" ") as [string, string];
      const rule = rules[method === "HEAD" ? `GET ${path}` : route];
      if (rule === undefined) throw new Error(`no rule for ${route}`);
      for (const caller of callers) {
        const { url, body } = rule.request(fixtures);
        const token = tokens[caller];
        const res = await s.app.inject({
          method: method as "GET",
          url,
          headers: token === null ? {} : { authorization: `Bearer ${token}` },
          ...(body === undefined || method === "HEAD" ? {} : { payload: body as object }),
        });
        let code: string | undefined;
        try {
          code = (res.json() as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        const want = expected(rule.access, caller);
        const got: Expected | string =
          res.statusCode === 401 ? "UNAUTHENTICATED" : res.statusCode === 403 ? "FORBIDDEN" : res.statusCode >= 500 ? `HTTP ${res.statusCode}` : "allowed";
        // A refusal must carry its code (HEAD answers have no body to check).
        const codeOk = want === "allowed" || method === "HEAD" || code === want;
        if (got !== want || !codeOk) mismatches.push({ route, caller, want, got, status: res.statusCode, code });
        checked += 1;
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(Object.keys(rules).length * callers.length);
  });

  it("a user acts on its own jobs only; an operator on any, including bulk cancel", async () => {
    const { s } = await setup();
    const mine = (await s.call("otherUser", "POST", "/api/v1/jobs", templateJob("true"))).json.job.id as string;
    expect((await s.call("user", "POST", `/api/v1/jobs/${mine}/cancel`, {})).json.error.code).toBe("FORBIDDEN");
    expect((await s.call("user", "POST", `/api/v1/jobs/${mine}/tasks/main/cancel`, {})).json.error.code).toBe("FORBIDDEN");
    expect((await s.call("otherUser", "POST", `/api/v1/jobs/${mine}/cancel`, {})).statusCode).toBe(200);
    expect((await s.call("user", "POST", `/api/v1/jobs/${mine}/resume`)).json.error.code).toBe("FORBIDDEN");
    expect((await s.call("operator", "POST", `/api/v1/jobs/${mine}/resume`)).statusCode).toBe(200);
    expect((await s.call("user", "POST", "/api/v1/jobs/cancel", { filter: { ids: [mine] } })).json.error.code).toBe("FORBIDDEN");
    const bulk = await s.call("operator", "POST", "/api/v1/jobs/cancel", { filter: { ids: [mine] } });
    expect([200, 202]).toContain(bulk.statusCode);
    expect(bulk.json.cancelled).toBe(1);
    // Reading is for everyone with a token.
    expect((await s.call("viewer", "GET", `/api/v1/jobs/${mine}`)).statusCode).toBe(200);
    expect((await s.call("viewer", "POST", "/api/v1/jobs", templateJob("true"))).json.error.code).toBe("FORBIDDEN");
  });

  /**
   * What each role may submit, by task kind (DESIGN §6), written here rather than read from
   * the policy: a free command is arbitrary code on the worker, so it needs operator.
   */
  const submitRules: Array<{ what: string; body: unknown; least: Role }> = [
    { what: "a free command (argv)", body: { command: ["true"] }, least: "operator" },
    { what: "a free command (shell string)", body: { command: "true" }, least: "operator" },
    { what: "a free command among template tasks", body: { tasks: [{ key: "a", template: "true" }, { key: "b", command: ["true"] }] }, least: "operator" },
    { what: "a free compensation command", body: { tasks: [{ key: "a", template: "true" }, { key: "undo", command: ["true"], runOn: "cancel" }] }, least: "operator" },
    { what: "a template task", body: templateJob("sleep", { seconds: 1 }), least: "user" },
  ];
  for (const rule of submitRules) {
    it(`submitting ${rule.what} needs ${rule.least}: lower roles get 403 naming the role and the policy rule`, async () => {
      const s = await testServer({ concurrency: 0 });
      for (const role of ["viewer", "user", "operator", "admin"] as const) {
        const res = await s.call(role, "POST", "/api/v1/jobs", rule.body);
        if (rank[role] >= rank[rule.least]) {
          expect({ role, status: res.statusCode }).toEqual({ role, status: 201 });
        } else {
          expect({ role, status: res.statusCode, code: res.json.error.code }).toEqual({ role, status: 403, code: "FORBIDDEN" });
          if (role !== "viewer") {
            // The viewer is refused by the route's least role; the user by the policy rule itself.
            expect(res.json.error.details).toMatchObject({ needed: rule.least, rule: "job.submit.process" });
            expect(res.json.error.message).toContain("job.submit.process");
          }
        }
      }
      // Nothing was stored for a refused submission.
      const listed = (await s.call("admin", "GET", "/api/v1/jobs")).json.items as unknown[];
      expect(listed.length).toBe(["viewer", "user", "operator", "admin"].filter((r) => rank[r as Role] >= rank[rule.least]).length);
    });
  }

  it("--policy changes what each action needs: seed 000's cancel needs operator; a trusted team may let users run free commands", async () => {
    const s = await testServer({ concurrency: 0, policy: { rules: { "job.cancel.own": "operator", "job.submit.process": "user", "job.logs": "user" } } });
    const id = (await s.call("user", "POST", "/api/v1/jobs", { command: ["true"] })).json.job.id as string;
    expect(id).toBeTypeOf("string");
    const refused = await s.call("user", "POST", `/api/v1/jobs/${id}/cancel`, {});
    expect(refused.statusCode).toBe(403);
    expect(refused.json.error.details).toMatchObject({ needed: "operator", rule: "job.cancel.own", role: "user" });
    expect((await s.call("user", "POST", `/api/v1/jobs/${id}/tasks/main/cancel`, {})).statusCode).toBe(403);
    expect((await s.call("viewer", "GET", `/api/v1/jobs/${id}/logs`)).statusCode).toBe(403);
    expect((await s.call("user", "GET", `/api/v1/jobs/${id}/logs`)).statusCode).toBe(200);
    expect((await s.call("operator", "POST", `/api/v1/jobs/${id}/cancel`, {})).statusCode).toBe(200);
  });

  it("a policy naming an unknown action or role is refused when the engine opens", async () => {
    await expect(testServer({ policy: { rules: { "job.cancel.mine": "user" } } })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
    await expect(testServer({ policy: { rules: { "job.cancel.own": "root" } } })).rejects.toMatchObject({ code: "INVALID_REQUEST" });
  });
});
