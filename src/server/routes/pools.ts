/** GET /api/v1/pools (viewer): every resource pool with its capacity, slots in use and holders (DESIGN §7). */
import type { FastifyInstance } from "fastify";
import { floorOf } from "../../core/policy.ts";
import { acting } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { errorResponses } from "../schemas.ts";

const holderSchema = {
  type: "object",
  required: ["jobId", "taskKey", "nodeId", "since"],
  properties: {
    jobId: { type: "string" },
    taskKey: { type: "string" },
    nodeId: { type: ["string", "null"], description: "The node running the task" },
    since: { type: ["string", "null"], description: "When the task's attempt started (it took the slot then)" },
  },
} as const;

const poolSchema = {
  type: "object",
  required: ["name", "capacity", "inUse", "holders"],
  properties: {
    name: { type: "string" },
    capacity: { type: "integer", description: "Slots, as configured on the server (--pool NAME=N)" },
    inUse: { type: "integer" },
    holders: { type: "array", items: holderSchema },
  },
} as const;

export function registerPoolRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  // The holders name jobs: reading pools is reading jobs, so the policy's job.read decides.
  api.get(
    "/pools",
    {
      config: { ...floorOf(engine.policy, ["job.read"]) },
      schema: {
        summary: "List resource pools with their capacity, slots in use and the tasks holding them",
        response: { 200: { type: "object", required: ["items"], properties: { items: { type: "array", items: poolSchema } } }, ...errorResponses },
      },
    },
    async (request) => ({ items: await acting(engine, request.caller).listPools() }),
  );
}
