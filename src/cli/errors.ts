/**
 * Exit codes and error output of the CLI (docs/cli.md): 0 ok, 1 error, 2 usage, 3 not found,
 * 4 conflict. Every error prints one line, `error: <message> (<CODE>)`, never a stack trace.
 */
import { BelayApiError, BelayNetworkError } from "../client/errors.ts";

export const exitCodes = { ok: 0, error: 1, usage: 2, notFound: 3, conflict: 4 } as const;

/**
 * `job watch --exit-status`: the job's final status as the exit code, for scripts. Clear of
 * the codes above, so "the job failed" never reads as "the command failed".
 */
export const jobExitCodes = { succeeded: 0, failed: 10, partial: 11, cancelled: 12 } as const;

/** A mistake in the command line that commander cannot see (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An error the CLI itself detects, with a code (e.g. no token to send). */
export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "CliError";
    this.code = code;
  }
}

/** The error's code when it has one: an API code, an engine code, a Node code (EADDRINUSE). */
function codeOf(error: unknown): string | null {
  if (error instanceof BelayApiError || error instanceof BelayNetworkError || error instanceof CliError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : null;
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return exitCodes.usage;
  const code = codeOf(error);
  const status = error instanceof BelayApiError ? error.status : ((error as { httpStatus?: unknown } | null)?.httpStatus ?? null);
  if (code !== null && (code === "NOT_FOUND" || code.endsWith("_NOT_FOUND"))) return exitCodes.notFound;
  if (status === 404) return exitCodes.notFound;
  if (status === 409) return exitCodes.conflict;
  return exitCodes.error;
}

/** Print the error as one line on stderr; returns the exit code. */
export function reportError(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof UsageError ? null : codeOf(error);
  process.stderr.write(`error: ${message}${code === null ? "" : ` (${code})`}\n`);
  if (error instanceof UsageError) process.stderr.write("(add --help for usage)\n");
  return exitCodeFor(error);
}
