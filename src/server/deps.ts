/** What the HTTP app is built from (`buildApp(deps)`), in a file of its own so routes need not import the app. */
import type { Logger } from "pino";
import type { Belay } from "../engine/engine.ts";
import type { ServerExtensions } from "./extensions.ts";

/** Bounds of GET /events streams (routes/events.ts). */
export interface EventStreamLimits {
  /** Open streams per token at most. Default 16. */
  maxStreamsPerToken?: number;
  /** How often the tokens of open streams are checked again (revoked, expired), ms. Default 2000. */
  authCheckMs?: number;
  /** Live events held for a stream that is behind, before it catches up from the store instead. Default 1000. */
  maxQueuedEvents?: number;
}

export interface AppDeps {
  engine: Belay;
  logger?: Logger;
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Requests per token (or per address without one) per minute. Default 6000. */
  rateLimitPerMinute?: number;
  /** Refused credentials (401s) per client address per minute; beyond, 429 RATE_LIMITED. Default 60. */
  authFailuresPerMinute?: number;
  /** Bounds of GET /events streams (per-token count, token re-check, queue). */
  eventStreams?: EventStreamLimits;
  /** Webhooks, metrics and other parts that register their own routes and hooks. */
  extensions?: ServerExtensions;
  version?: string;
}
