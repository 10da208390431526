/**
 * Every error leaves the server as `{"error": {"code", "message", "details"?}}` with the HTTP
 * status of its code (src/core/errors.ts). Fastify's own errors (bad JSON, schema
 * validation, oversize body, unknown route) are mapped here; anything unexpected becomes
 * a 500 INTERNAL without a stack trace.
 */
import type { FastifyReply } from "fastify";
import { BelayError } from "../core/errors.ts";

interface FastifyLikeError extends Error {
  code?: string;
  statusCode?: number;
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
}

export function toBelayError(error: unknown): BelayError {
  if (error instanceof BelayError) return error;
  const e = error as FastifyLikeError;
  if (e.validation !== undefined) {
    const first = e.validation[0];
    const extra = first?.params?.["additionalProperty"];
    const missing = first?.params?.["missingProperty"];
    const path = `${e.validationContext ?? "body"}${first?.instancePath?.replaceAll("/", ".") ?? ""}${typeof extra === "string" ? `.${extra}` : ""}${typeof missing === "string" ? `.${missing}` : ""}`;
    const what = typeof extra === "string" ? `unknown field "${extra}"` : (first?.message ?? "is invalid");
    return new BelayError("INVALID_REQUEST", `${path}: ${what}`, { details: { field: path.replace(/^(body|querystring|params)\.?/, ""), in: e.validationContext ?? "body" } });
  }
  switch (e.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new BelayError("INVALID_REQUEST", `malformed JSON body: ${e.message}`);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BelayError("PAYLOAD_TOO_LARGE", "request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new BelayError("INVALID_REQUEST", "unsupported Content-Type: send application/json");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new BelayError("INVALID_REQUEST", "Content-Length does not match the body");
    default:
      break;
  }
  if (e instanceof SyntaxError) return new BelayError("INVALID_REQUEST", `malformed JSON body: ${e.message}`);
  if (isDiskFull(error)) {
    return new BelayError("INTERNAL", "the server's disk is full: the request was not applied; retry once space has been freed", {
      details: { reason: "disk_full" },
      cause: error,
    });
  }
  if (isStoreUnavailable(error)) {
    return new BelayError("STORE_UNAVAILABLE", "the database connection was lost during the request: nothing was applied; retry (with the same idempotency key for a submit)", {
      details: { reason: "store_unavailable" },
      cause: error,
    });
  }
  if (e.statusCode === 404) return new BelayError("NOT_FOUND", e.message);
  if (e.statusCode === 429) return new BelayError("RATE_LIMITED", e.message);
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return new BelayError("INVALID_REQUEST", e.message);
  return new BelayError("INTERNAL", "internal error", { cause: error });
}

/**
 * The store could not write for want of space: SQLite's SQLITE_FULL (errcode 13, which it
 * also reports for ENOSPC), PostgreSQL's disk_full (SQLSTATE 53100), or an ENOSPC of the file
 * system. Not the client's mistake, and not a bug either: said plainly, without a stack.
 */
function isDiskFull(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; errcode?: unknown };
  return (e.code === "ERR_SQLITE_ERROR" && e.errcode === 13) || e.code === "ENOSPC" || e.code === "53100";
}

/**
 * The request's transaction failed because the database went away, not because of the
 * request: PostgreSQL's connection exceptions (SQLSTATE class 08) and shutdowns (57P01–57P03,
 * e.g. pg_terminate_backend or a restart), a socket reset or refused, or node-postgres's own
 * "Connection terminated". A transaction that failed this way was rolled back (or never
 * began), so the client may retry.
 */
function isStoreUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  if (/^08...$/.test(code) || ["57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE"].includes(code)) return true;
  return typeof e.message === "string" && /^Connection terminated|Client has encountered a connection error/.test(e.message);
}

export function sendError(reply: FastifyReply, error: BelayError): FastifyReply {
  return reply.code(error.httpStatus).type("application/json").send({ error: error.toJSON() });
}
