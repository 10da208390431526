/** /api/v1/tokens (admin): create (the secret is shown once), list, revoke. */
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import type { AppDeps } from "../deps.ts";
import { createToken, roles } from "../auth.ts";
import type { NewToken } from "../auth.ts";
import { errorResponses, uuidPattern } from "../schemas.ts";

const tokenSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    principal: { type: "string" },
    role: { type: "string", enum: [...roles] },
    createdAt: { type: "string" },
    lastUsedAt: { type: ["string", "null"] },
    revokedAt: { type: ["string", "null"] },
    expiresAt: { type: ["string", "null"], description: "When it stops working (401 UNAUTHENTICATED after); null: never" },
  },
} as const;

/** Ten years: far enough for any real use, near enough that the time stays a valid date. */
const maxExpiresInSeconds = 10 * 365 * 24 * 3600;

export function registerTokenRoutes(api: FastifyInstance, deps: AppDeps): void {
  const store = deps.engine.tokens;
  api.post<{ Body: NewToken }>(
    "/tokens",
    {
      config: { role: "admin" },
      schema: {
        summary: "Create a token (the secret is in the response, once)",
        body: {
          type: "object",
          required: ["name", "role"],
          additionalProperties: false,
          properties: {
            name: { type: "string", minLength: 1, maxLength: 100 },
            role: { type: "string", enum: [...roles] },
            principal: { type: "string", minLength: 1, maxLength: 100, description: "Who the token acts as (default: its name)" },
            expiresInSeconds: { type: "integer", minimum: 1, maximum: maxExpiresInSeconds, description: "Lifetime from now, in seconds (default: no expiry)" },
          },
        },
        response: { 201: { type: "object", properties: { token: { type: "string" }, ...tokenSchema.properties } }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { secret, token } = await createToken(store, request.body);
      return reply.code(201).send({ token: secret, ...token });
    },
  );

  api.get(
    "/whoami",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Who the calling token acts as, and its role (what a UI may offer)",
        response: { 200: { type: "object", required: ["principal", "role"], properties: { principal: { type: "string" }, role: { type: "string", enum: [...roles] } } }, ...errorResponses },
      },
    },
    async (request) => ({ principal: request.caller.principal, role: request.caller.role }),
  );

  api.get(
    "/tokens",
    { config: { role: "admin" }, schema: { summary: "List tokens (never their secrets)", response: { 200: { type: "object", properties: { items: { type: "array", items: tokenSchema } } }, ...errorResponses } } },
    async () => ({ items: await store.listTokens() }),
  );

  api.delete<{ Params: { id: string } }>(
    "/tokens/:id",
    {
      config: { role: "admin" },
      schema: {
        summary: "Revoke a token",
        params: { type: "object", required: ["id"], additionalProperties: false, properties: { id: { type: "string", pattern: uuidPattern } } },
        response: { 204: { type: "null" }, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await store.revokeToken(request.params.id, new Date().toISOString()))) {
        throw new BelayError("NOT_FOUND", `token ${request.params.id} not found`, { details: { id: request.params.id } });
      }
      return reply.code(204).send();
    },
  );
}
