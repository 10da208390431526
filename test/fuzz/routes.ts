/**
 * The routes an app serves, read from the app itself (so a route added later is fuzzed and
 * checked without anyone remembering to list it), and the role each one declares.
 */
import type { FastifyInstance } from "fastify";
import type { Role } from "../../src/store/store.ts";
import { appRoutes as allRoutes } from "../server/app-routes.ts";
import type { AppRoute } from "../server/app-routes.ts";

export type { AppRoute };

/** Every route but HEAD ones: the fuzzer sends HEAD to GET routes itself. */
export function appRoutes(app: FastifyInstance): AppRoute[] {
  return allRoutes(app).filter((r) => r.method !== "HEAD");
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
