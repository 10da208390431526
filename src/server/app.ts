/**
 * `buildApp(deps)`: the HTTP API of DESIGN §5 as a Fastify instance, separate from `listen`
 * so tests drive it with `inject()`. Routes declare their schemas once (validation and the
 * OpenAPI document) and the role they need in `config.role`.
 */
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import { Ajv } from "ajv";
import Fastify from "fastify";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BelayError } from "../core/errors.ts";
import { bodiesCheckedByTheLibrary, contractSchemas } from "../core/requests.ts";
import { validate } from "../core/json-schema.ts";
import type { JsonSchema } from "../core/json-schema.ts";
import { newId } from "../engine/ids.ts";
import { registerMcpRoutes } from "../mcp/http.ts";
import type { Role } from "../store/store.ts";
import { assertRouteRole, authenticate, requireRole } from "./auth.ts";
import type { Caller } from "./auth.ts";
import { sendError, toBelayError } from "./errors.ts";
import { clientErrorHandler, frameworkErrors } from "./protocol-errors.ts";
import { registerCancellationRoutes } from "./routes/cancellations.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerHealthRoutes } from "./routes/health.ts";
import { registerJobRoutes } from "./routes/jobs.ts";
import { registerTokenRoutes } from "./routes/tokens.ts";
import { registerPoolRoutes } from "./routes/pools.ts";
import { registerScheduleRoutes } from "./routes/schedules.ts";
import { sharedSchemas } from "./schemas.ts";
import type { AppDeps } from "./deps.ts";
import { RouteMethods } from "./methods.ts";

export type { AppDeps };

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller;
  }
  interface FastifyInstance {
    /** Count a refused credential of this request's address; throws 429 RATE_LIMITED once over the limit. */
    countAuthFailure(request: FastifyRequest): Promise<void>;
  }
  interface FastifyContextConfig {
    /** The least role that may call the route; `public` needs no token. */
    role?: Role | "public";
    /** The policy rule that sets `role` (core/policy.ts), named in a 403. */
    rule?: string;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger === undefined ? {} : { loggerInstance: deps.logger }),
    bodyLimit: deps.bodyLimitBytes ?? 1024 * 1024,
    genReqId: () => newId(),
    // Undefined routes and bad JSON must end in our error shape, never Fastify's.
    return503OnClosing: true,
    frameworkErrors,
    clientErrorHandler,
  }) as unknown as FastifyInstance;
  // Before any route: a route that declares no role is a startup error (fail closed).
  app.addHook("onRoute", assertRouteRole);

  // Bodies are validated exactly (no coercion, nothing removed); query strings and path
  // parameters arrive as strings, so they are coerced to the declared types.
  const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false });
  const queryAjv = new Ajv({ allErrors: false, coerceTypes: "array", removeAdditional: false, useDefaults: true, strict: false });
  for (const schema of sharedSchemas) {
    bodyAjv.addSchema(schema);
    queryAjv.addSchema(schema);
    app.addSchema(schema);
  }
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const part = httpPart ?? "body";
    if (contractSchemas.has(schema as JsonSchema)) return contractValidator(schema as JsonSchema, part);
    return (part === "body" ? bodyAjv : queryAjv).compile(schema);
  });
  // Only JSON bodies: a text/plain one is refused with the content type it needs, not parsed as a string.
  app.removeContentTypeParser("text/plain");
  // An empty body is no body, with or without `Content-Type: application/json` (curl -H … -X POST):
  // a route whose fields are all optional takes every default, one that needs a body says what
  // it needs. Anything else is Fastify's own JSON parser (poisoning checks, "malformed JSON").
  const json = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else json(request, body.toString(), done);
  });
  const routeMethods = new RouteMethods();
  app.addHook("onRoute", (route) => routeMethods.add(route.method, route.url));

  app.setErrorHandler((error, request, reply) => {
    const belayError = toBelayError(error);
    if (belayError.httpStatus >= 500) request.log.error({ err: error }, "request failed");
    void sendError(reply, belayError);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = routeMethods.allowed(path);
    if (allowed.length > 0) {
      void reply.header("allow", allowed.join(", "));
      void sendError(reply, new BelayError("METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}: use ${allowed.join(" or ")}`, { details: { allow: allowed } }));
      return;
    }
    void sendError(reply, toBelayError(Object.assign(new Error(`no route ${request.method} ${request.url.split("?")[0]}`), { statusCode: 404 })));
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Belay API", version: deps.version ?? "0.0.0", description: "Job orchestration in which stopping work is as reliable as starting it." },
      servers: [{ url: "/" }],
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json["$id"] === "string" ? json["$id"] : `def-${i}`) },
  });

  app.decorateRequest("caller", null as unknown as Caller);
  let authFailures: AuthFailureLimiter | null = null;
  app.addHook("onRequest", async (request: FastifyRequest) => {
    if (request.is404) return;
    const role = request.routeOptions.config.role;
    if (role === "public") return;
    // Unreachable (assertRouteRole refuses such a route at startup); refuse rather than serve unchecked.
    if (role === undefined) throw new BelayError("FORBIDDEN", "this route declares no role");
    try {
      request.caller = await authenticate(deps.engine.tokens, request.headers.authorization);
    } catch (error) {
      await countAuthFailure(request, authFailures);
      throw error;
    }
    // The role decides before the request is parsed or validated: a caller without it gets
    // 403 whatever it sent (never a 400 that describes a route it may not use).
    requireRole(request.caller, role, `${request.method} ${request.routeOptions.url ?? request.url}`, request.routeOptions.config.rule);
  });
  await app.register(rateLimit, {
    max: deps.rateLimitPerMinute ?? 6000,
    timeWindow: 60_000,
    keyGenerator: (request) => request.caller?.tokenId ?? request.ip,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: { code: "RATE_LIMITED", message: `rate limit of ${context.max} requests per minute reached; retry after ${context.after}` },
    }),
    hook: "preHandler",
  });
  authFailures = app.createRateLimit({ max: deps.authFailuresPerMinute ?? 60, timeWindow: 60_000, keyGenerator: (request) => request.ip });
  app.decorate("countAuthFailure", (request: FastifyRequest) => countAuthFailure(request, authFailures));

  registerHealthRoutes(app, deps);
  registerMcpRoutes(app);
  await app.register(
    async (api) => {
      registerJobRoutes(api, deps);
      registerCancellationRoutes(api, deps);
      registerEventRoutes(api, deps);
      registerTokenRoutes(api, deps);
      registerPoolRoutes(api, deps);
      registerScheduleRoutes(api, deps);
      deps.extensions?.registerApiRoutes?.(api);
      api.get("/openapi.json", { config: { role: "public" }, schema: { hide: true } }, async () => app.swagger());
    },
    { prefix: "/api/v1" },
  );
  deps.extensions?.registerRootRoutes?.(app);
  return app;
}

/**
 * 401s are rate limited per client address: past the limit, refused credentials get 429
 * RATE_LIMITED instead. A valid token is never counted nor refused, so a client sharing an
 * address with a prober (a NAT, or a reverse proxy on the same host where every peer is
 * 127.0.0.1) keeps working.
 */
type AuthFailureLimiter = ReturnType<FastifyInstance["createRateLimit"]>;

async function countAuthFailure(request: FastifyRequest, limiter: AuthFailureLimiter | null): Promise<void> {
  if (limiter === null) return;
  const state = await limiter(request);
  if (!state.isAllowed && state.isExceeded) {
    throw new BelayError("RATE_LIMITED", `too many refused credentials from this address (more than ${state.max} a minute); retry in ${state.ttlInSeconds} s`, {
      details: { retryAfterSeconds: state.ttlInSeconds },
    });
  }
}

/**
 * A contract schema's check (src/core/requests.ts), one wording for every mistake. A body the
 * library checks itself is handed through, so it is checked once; no body at all is no option.
 */
function contractValidator(schema: JsonSchema, part: string): (data: unknown) => { value?: unknown; error?: Error } {
  if (part === "body" && bodiesCheckedByTheLibrary.has(schema)) return () => ({});
  const fromText = part !== "body";
  return (data) => {
    if (data === null && part === "body") return {};
    try {
      return { value: validate(schema, data, { coerce: fromText, applyDefaults: fromText, part }) };
    } catch (error) {
      return { error: error as Error };
    }
  };
}
