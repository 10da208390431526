/** Writes the database could not take (it is restarting, the connection dropped), tried again. */
import type { Logger } from "pino";
import { isBelayError } from "../core/errors.ts";

/**
 * The wait before trying again a write the database could not take: 50 ms, doubling, at
 * most 2 s — short enough that a blip costs little, capped so that a long outage is noticed
 * within seconds of its end.
 */
export function retryDelayMs(failures: number): number {
  return Math.min(2000, 50 * 2 ** failures);
}

/**
 * Retry a write the database could not take, with backoff, until it is stored, unless it is
 * refused (a BelayError: trying again would be refused again) or the engine closes.
 */
export async function retryingWrite<T>(
  write: () => Promise<T>,
  options: { what: string; logger: Logger; closing: () => boolean; context?: Record<string, unknown> },
): Promise<T> {
  const context = options.context ?? {};
  for (let failures = 0; ; failures += 1) {
    try {
      return await write();
    } catch (error) {
      if (isBelayError(error) || options.closing()) {
        options.logger.error({ err: error, ...context }, options.what);
        throw error;
      }
      const waitMs = retryDelayMs(failures);
      options.logger.warn({ err: error, ...context, retryInMs: waitMs }, `${options.what}: retrying`);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
