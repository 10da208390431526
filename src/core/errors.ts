/**
 * The one registry of Belay error codes. Every error a caller can see carries one of these
 * stable string codes; the HTTP status lives beside it so the server never guesses.
 * Tests assert `.code`, never message text.
 */
export const errorCodes = {
  INVALID_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  JOB_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  NOT_FOUND: 404,
  JOB_ALREADY_FINISHED: 409,
  JOB_NOT_PENDING: 409,
  TASK_ALREADY_FINISHED: 409,
  JOB_NOT_RESUMABLE: 409,
  /** The caller already has a schedule of this name (DESIGN §7). */
  SCHEDULE_NAME_TAKEN: 409,
  /** A child job asked for under a job whose tree is being cancelled (DESIGN §7). */
  JOB_CANCELLING: 409,
  /** The path exists, not with this method: the answer's `Allow` header lists those it has. */
  METHOD_NOT_ALLOWED: 405,
  /** The request body is larger than the server accepts (an addition to DESIGN §5's codes). */
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  /** A state change the state machine forbids: a bug or a lost race, never a client mistake. */
  ILLEGAL_TRANSITION: 500,
  INTERNAL: 500,
  /** The store could not be reached or lost the connection mid-request: nothing was applied; retry. */
  STORE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class BelayError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BelayError";
    this.code = code;
    this.details = options?.details;
  }

  get httpStatus(): number {
    return errorCodes[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isBelayError(value: unknown, code?: ErrorCode): value is BelayError {
  return value instanceof BelayError && (code === undefined || value.code === code);
}

export function invalid(message: string, details?: Record<string, unknown>): BelayError {
  return new BelayError("INVALID_REQUEST", message, details === undefined ? undefined : { details });
}
