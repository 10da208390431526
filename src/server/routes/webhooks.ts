/**
 * /api/v1/webhooks (admin): register (URL, event types, secret), list, delete, and the
 * delivery attempts of one webhook. The secret signs deliveries (see src/server/webhooks.ts)
 * and is never returned, except once when the server generated it.
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import { eventTypes } from "../../core/model.ts";
import { newId } from "../../engine/ids.ts";
import type { WebhookStore } from "../../engine/store-views.ts";
import type { WebhookDelivery, WebhookRecord } from "../../store/store.ts";
import { errorResponses, uuidPattern } from "../schemas.ts";
import { literalRefusal } from "../webhook-targets.ts";

export interface WebhookRouteDeps {
  store: WebhookStore;
  /** Called after a webhook is created or deleted (the dispatcher drops its cached list). */
  onChange?: () => void;
  /** `--webhook-allow-private`: accept loopback, private and other non-public targets. */
  allowPrivateTargets?: boolean;
}

const webhookSchema = {
  type: "object",
  required: ["id", "url", "eventTypes", "createdBy", "createdAt"],
  additionalProperties: false,
  properties: {
    id: { type: "string" },
    url: { type: "string" },
    eventTypes: { type: "array", items: { type: "string" }, description: "Event types delivered; empty means every type" },
    createdBy: { type: "string" },
    createdAt: { type: "string" },
  },
} as const;

const deliverySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    seq: { type: "integer" },
    eventId: { type: "string" },
    eventType: { type: "string" },
    jobId: { type: "string" },
    status: { type: "string", enum: ["pending", "delivered", "failed"] },
    attempts: { type: "integer" },
    nextAttemptAt: { type: ["string", "null"], description: "When a pending delivery is tried next" },
    lastStatusCode: { type: ["integer", "null"] },
    lastError: { type: ["string", "null"] },
    createdAt: { type: "string" },
    deliveredAt: { type: ["string", "null"] },
  },
} as const;

const idParams = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  properties: { id: { type: "string", pattern: uuidPattern, description: "Webhook id" } },
} as const;

/** A fresh signing secret, for a webhook registered without one. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

function publicView(hook: WebhookRecord): Omit<WebhookRecord, "secret"> {
  return { id: hook.id, url: hook.url, eventTypes: hook.eventTypes, createdBy: hook.createdBy, createdAt: hook.createdAt };
}

function deliveryView(d: WebhookDelivery): Record<string, unknown> {
  return {
    seq: d.seq,
    eventId: d.event.id,
    eventType: d.event.type,
    jobId: d.event.subject,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === "pending" && d.nextAttemptMs !== null ? new Date(d.nextAttemptMs).toISOString() : null,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: d.createdAt,
    deliveredAt: d.deliveredAt,
  };
}

function parseUrl(raw: string, allowPrivateTargets: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BelayError("INVALID_REQUEST", `url: "${raw}" is not an absolute URL`, { details: { field: "url" } });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BelayError("INVALID_REQUEST", `url: only http and https URLs can receive webhooks, not ${url.protocol}`, { details: { field: "url" } });
  }
  if (url.username !== "" || url.password !== "") {
    throw new BelayError("INVALID_REQUEST", "url: credentials in the URL are not supported; deliveries are authenticated by their signature", { details: { field: "url" } });
  }
  // Names are checked when a delivery connects (their address may change); literals and localhost now.
  const refusal = allowPrivateTargets ? null : literalRefusal(url);
  if (refusal !== null) {
    throw new BelayError("INVALID_REQUEST", `url: target address not allowed: ${refusal}; webhooks reach public addresses only unless the server runs with --webhook-allow-private`, {
      details: { field: "url", reason: "target_not_allowed" },
    });
  }
  return url.href;
}

export function registerWebhookRoutes(api: FastifyInstance, deps: WebhookRouteDeps): void {
  const { store } = deps;

  const find = async (id: string): Promise<WebhookRecord> => {
    const hook = (await store.listWebhooks()).find((h) => h.id === id);
    if (hook === undefined) throw new BelayError("NOT_FOUND", `webhook ${id} not found`, { details: { id } });
    return hook;
  };

  api.post<{ Body: { url: string; eventTypes?: string[]; secret?: string } }>(
    "/webhooks",
    {
      config: { role: "admin" },
      schema: {
        summary: "Register a webhook",
        description:
          "Events are POSTed as CloudEvents JSON (`application/cloudevents+json`) with `ce-*` headers and " +
          '`belay-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>`; ' +
          "a 2xx answer delivers, anything else is retried with exponential backoff. " +
          "Only public addresses are reached unless the server runs with `--webhook-allow-private`: an IP literal or `localhost` that is not is refused here (400), " +
          'a name is checked on the address each delivery connects to (a refused one is recorded as `lastError: "target address not allowed"`). ' +
          "Without a `secret`, one is generated and returned in this response only.",
        body: {
          type: "object",
          required: ["url"],
          additionalProperties: false,
          properties: {
            url: { type: "string", minLength: 1, maxLength: 2048, description: "http or https URL that receives the events" },
            eventTypes: { type: "array", items: { type: "string", enum: [...eventTypes] }, uniqueItems: true, maxItems: eventTypes.length, description: "Event types to deliver; empty or absent means every type" },
            secret: { type: "string", minLength: 16, maxLength: 256, description: "Signing secret (at least 16 characters); generated when absent" },
          },
        },
        response: {
          201: {
            type: "object",
            required: ["webhook"],
            additionalProperties: false,
            properties: {
              webhook: webhookSchema,
              secret: { type: "string", description: "The generated secret; present only when the request gave none" },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const url = parseUrl(request.body.url, deps.allowPrivateTargets ?? false);
      const generated = request.body.secret === undefined ? generateSecret() : null;
      const hook: WebhookRecord = {
        id: newId(),
        url,
        eventTypes: request.body.eventTypes ?? [],
        secret: generated ?? request.body.secret ?? "",
        createdBy: request.caller.principal,
        createdAt: new Date().toISOString(),
      };
      await store.insertWebhook(hook);
      deps.onChange?.();
      return reply.code(201).send(generated === null ? { webhook: publicView(hook) } : { webhook: publicView(hook), secret: generated });
    },
  );

  api.get(
    "/webhooks",
    {
      config: { role: "admin" },
      schema: {
        summary: "List webhooks (never their secrets)",
        response: { 200: { type: "object", required: ["items"], additionalProperties: false, properties: { items: { type: "array", items: webhookSchema } } }, ...errorResponses },
      },
    },
    async () => ({ items: (await store.listWebhooks()).map(publicView) }),
  );

  api.delete<{ Params: { id: string } }>(
    "/webhooks/:id",
    {
      config: { role: "admin" },
      schema: {
        summary: "Delete a webhook (its pending deliveries are dropped)",
        params: idParams,
        response: { 204: { type: "null", description: "Deleted" }, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await store.deleteWebhook(request.params.id, new Date().toISOString()))) {
        throw new BelayError("NOT_FOUND", `webhook ${request.params.id} not found`, { details: { id: request.params.id } });
      }
      deps.onChange?.();
      return reply.code(204).send();
    },
  );

  api.get<{ Params: { id: string }; Querystring: { limit?: number } }>(
    "/webhooks/:id/deliveries",
    {
      config: { role: "admin" },
      schema: {
        summary: "A webhook's deliveries, newest first (status, attempts, last answer)",
        params: idParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: { type: "object", required: ["items"], additionalProperties: false, properties: { items: { type: "array", items: deliverySchema } } }, ...errorResponses },
      },
    },
    async (request) => {
      const hook = await find(request.params.id);
      return { items: (await store.listDeliveries(hook.id, request.query.limit ?? 100)).map(deliveryView) };
    },
  );
}
