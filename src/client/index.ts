/** belay-jobs/client: the HTTP API of a Belay server from any Node program. */
export { BelayClient, isTerminalStatus } from "./client.ts";
export type { BelayClientOptions, WaitOptions } from "./client.ts";
export { BelayApiError, BelayNetworkError, isBelayApiError } from "./errors.ts";
export { EventStream } from "./events.ts";
export type { EventsOptions } from "./events.ts";
export type * from "./types.ts";
export type * from "../core/model.ts";
export type { JobStatus, TaskStatus } from "../core/states.ts";
export type { ErrorCode } from "../core/errors.ts";
