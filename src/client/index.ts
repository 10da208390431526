/** belay-jobs/client: the HTTP API of a Belay server from any program, Node or browser (no `node:` imports). */
export { BelayClient, isTerminalStatus } from "./client.ts";
export type { BelayClientOptions, CallOptions, WaitOptions } from "./client.ts";
export { BelayApiError, BelayNetworkError, isBelayApiError } from "./errors.ts";
export { EventStream } from "./events.ts";
/** The contract's limits and its 200-or-202 rule, for callers that check before they send (the CLI, the web UI). */
export { requestLimits } from "../core/requests.ts";
export { cancelAnswerStatus } from "../core/responses.ts";
export type { EventsOptions } from "./events.ts";
export type * from "./types.ts";
export type * from "../core/model.ts";
export type { JobStatus, TaskStatus } from "../core/states.ts";
export type { ErrorCode } from "../core/errors.ts";
