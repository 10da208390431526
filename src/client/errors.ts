/** Errors of the client SDK: one for an answer of the API, one for a server that could not be reached. */
import type { ErrorCode } from "../core/errors.ts";

/**
 * The API answered with an error (`{"error": {"code", "message", "details"?}}`). `code` is the
 * server's stable code (`JOB_NOT_FOUND`, `JOB_ALREADY_FINISHED`, …); an answer that is not in
 * that shape (a proxy's HTML page, say) gets `BAD_RESPONSE`.
 */
export class BelayApiError extends Error {
  readonly code: ErrorCode | "BAD_RESPONSE";
  /** HTTP status of the answer. */
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode | "BAD_RESPONSE", message: string, status: number, details?: Record<string, unknown>) {
    super(message);
    this.name = "BelayApiError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** The server could not be reached (refused, DNS, TLS, reset): `code` is `UNREACHABLE`, `cause` the fetch error. */
export class BelayNetworkError extends Error {
  readonly code = "UNREACHABLE" as const;
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super(`cannot reach Belay at ${url}: ${describeCause(cause)}`, { cause });
    this.name = "BelayNetworkError";
    this.url = url;
  }
}

/** fetch() fails with `TypeError: fetch failed` and the useful part in `cause` (e.g. `connect ECONNREFUSED …`). */
function describeCause(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  while (current instanceof Error && current.cause !== undefined) {
    current = current.cause;
    if (current instanceof Error && current.message !== "") message = current.message;
    else if (typeof current === "object" && current !== null && "code" in current) message = String((current as { code: unknown }).code);
  }
  return message;
}

export function isBelayApiError(value: unknown, code?: string): value is BelayApiError {
  return value instanceof BelayApiError && (code === undefined || value.code === code);
}
