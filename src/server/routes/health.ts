/** /healthz (the process answers) and /readyz (the store answers too). No token needed. */
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../deps.ts";

export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get("/healthz", { config: { role: "public" }, schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { config: { role: "public" }, schema: { hide: true } }, async (_request, reply) => {
    try {
      await deps.engine.countJobs();
      return { status: "ready" };
    } catch (error) {
      return reply.code(503).send({ status: "unavailable", error: (error as Error).message });
    }
  });
}
