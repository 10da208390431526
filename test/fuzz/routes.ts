/**
 * The routes an app serves, read from the app itself (so a route added later is fuzzed and
 * checked without anyone remembering to list it), and the role each one declares.
 */
import type { FastifyInstance } from "fastify";
import type { Role } from "../../src/store/store.ts";

export interface AppRoute {
  method: string;
  /** As registered: `/api/v1/jobs/:id`, `/*`. */
  path: string;
}

/**
 * `METHOD /path` of every route, parsed from `printRoutes` (a tree whose segments concatenate
 * into paths), each checked against `hasRoute` so a parsing slip cannot hide one. HEAD routes
 * (Fastify adds one per GET) are left out: the fuzzer sends HEAD to GET routes itself.
 */
export function appRoutes(app: FastifyInstance): AppRoute[] {
  const routes: AppRoute[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    if (line.trim() === "") continue;
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (match === null) throw new Error(`unexpected printRoutes line: ${JSON.stringify(line)}`);
    const depth = (match[1] ?? "").length / 4;
    const path = (depth === 0 ? "" : (stack[depth - 1] ?? "")) + (match[2] ?? "");
    stack.length = depth;
    stack.push(path);
    for (const method of (match[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "" && m !== "-" && m !== "HEAD")) {
      if (!app.hasRoute({ method: method as "GET", url: path })) throw new Error(`${method} ${path} parsed from printRoutes is not a route`);
      routes.push({ method, path });
    }
  }
  return routes;
}

export const routeName = (r: AppRoute): string => `${r.method} ${r.path}`;

/** The OpenAPI path of a route: `/api/v1/jobs/:id` → `/api/v1/jobs/{id}`. */
export const openApiPath = (path: string): string => path.replaceAll(/:(\w+)/g, "{$1}");

/** Header the test extension adds to every answer: the role the matched route declares (`config.role`). */
export const routeRoleHeader = "x-test-route-role";

/**
 * A server extension that tells, on every answer, which role the matched route declares —
 * read from the route's own config, the one source the app's auth hooks use.
 */
export function routeRoleProbe(): { registerApiRoutes: (api: FastifyInstance) => void; registerRootRoutes: (app: FastifyInstance) => void } {
  const hook = (instance: FastifyInstance): void => {
    instance.addHook("onSend", async (request, reply, payload) => {
      const role: Role | "public" | undefined = request.routeOptions.config.role;
      if (role !== undefined) void reply.header(routeRoleHeader, role);
      return payload;
    });
  };
  return { registerApiRoutes: hook, registerRootRoutes: hook };
}
