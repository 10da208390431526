/** Reading an app's routes from the app itself, for tests that must cover every route. */
import type { FastifyInstance } from "fastify";

export interface AppRoute {
  method: string;
  /** As registered: `/api/v1/jobs/:id`, `/*`. */
  path: string;
}

/**
 * `METHOD /path` of every route (HEAD ones included: Fastify adds one per GET), parsed from
 * `printRoutes` (a tree whose segments concatenate into paths), each checked against
 * `hasRoute` so a parsing slip cannot hide one.
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
    for (const method of (match[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "" && m !== "-")) {
      if (!app.hasRoute({ method: method as "GET", url: path })) throw new Error(`${method} ${path} parsed from printRoutes is not a route`);
      routes.push({ method, path });
    }
  }
  return routes;
}
