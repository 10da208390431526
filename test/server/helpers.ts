import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach } from "vitest";
import type { Role } from "../../src/store/store.ts";
import { buildApp } from "../../src/server/app.ts";
import type { AppDeps } from "../../src/server/app.ts";
import type { ServerExtensions } from "../../src/server/extensions.ts";
import { createToken, ensureAdminToken } from "../../src/server/auth.ts";
import type { Belay } from "../../src/engine/engine.ts";
import type { BelayOptions } from "../../src/engine/open.ts";
import { openTestEngine, tempHome } from "../helpers.ts";

export interface TestServer {
  app: FastifyInstance;
  engine: Belay;
  home: string;
  tokens: Record<Role, string> & { otherUser: string };
  /** `app.inject` with a role's token; `json` is the parsed body (null if not JSON), read loosely by tests. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  call(role: Role | "otherUser" | null, method: string, url: string, body?: unknown): Promise<{ statusCode: number; json: any; body: string; headers: Record<string, unknown> }>;
}

/** Server parts built on the test's engine (metrics, webhooks), stopped after the test before the app closes. */
export type TestExtensions = (engine: Belay) => { extensions: ServerExtensions[]; stop?: () => unknown };

const apps: FastifyInstance[] = [];
const stops: Array<() => unknown> = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map(async (stop) => stop()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/**
 * The templates every test server has: what a `user` token may run as a process (a free
 * command needs operator, DESIGN §6). `{key, template: "sleep", params: {seconds: 30}}`.
 */
export const testTemplates = {
  templates: [
    { name: "true", argv: ["true"] },
    { name: "sleep", argv: ["sleep", "{{seconds:number}}"] },
  ],
};

/** A one-task job spec of a test template, for tests where a `user` submits. */
export function templateJob(template: "true" | "sleep", params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...extra, tasks: [{ key: "main", template, params }] };
}

export async function testServer(options: BelayOptions = {}, appOptions: Partial<AppDeps> = {}, extend?: TestExtensions): Promise<TestServer> {
  const home = options.home ?? tempHome();
  const engine = await openTestEngine({ home, templates: testTemplates, ...options });
  await ensureAdminToken(engine.store, home);
  const admin = readFileSync(join(home, "admin.token"), "utf8").trim();
  const make = async (name: string, role: Role): Promise<string> => (await createToken(engine.store, { name, role })).secret;
  const tokens = {
    admin,
    viewer: await make("vera", "viewer"),
    user: await make("uma", "user"),
    otherUser: await make("otto", "user"),
    operator: await make("oscar", "operator"),
  };
  const extra = extend?.(engine);
  if (extra?.stop !== undefined) stops.push(extra.stop);
  const extensions: ServerExtensions | undefined =
    extra === undefined
      ? appOptions.extensions
      : {
          registerApiRoutes: (api) => extra.extensions.forEach((e) => e.registerApiRoutes?.(api)),
          registerRootRoutes: (root) => extra.extensions.forEach((e) => e.registerRootRoutes?.(root)),
        };
  // Tests send many refused credentials from one address on purpose; the 401 limit has its own test (fail-closed.test.ts).
  const app = await buildApp({ engine, authFailuresPerMinute: 100_000, ...appOptions, ...(extensions === undefined ? {} : { extensions }) });
  apps.push(app);
  return {
    app,
    engine,
    home,
    tokens,
    async call(role, method, url, body) {
      const headers: Record<string, string> = {};
      if (role !== null) headers["authorization"] = `Bearer ${tokens[role]}`;
      const res = await app.inject({ method: method as "GET", url, headers, ...(body === undefined ? {} : { payload: body as object }) });
      let json: unknown;
      try {
        json = res.json();
      } catch {
        json = null;
      }
      return { statusCode: res.statusCode, json, body: res.body, headers: res.headers };
    },
  };
}
