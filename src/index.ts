/** belay-jobs: the library API (DESIGN §5). */
export { openBelay } from "./engine/open.ts";
export type { BelayOptions } from "./engine/open.ts";
export { Belay } from "./engine/engine.ts";
export type { BulkCancelResult, CancelResult, SubmitOptions } from "./engine/engine.ts";
export { BelayError, errorCodes, isBelayError } from "./core/errors.ts";
export type { ErrorCode } from "./core/errors.ts";
export type * from "./core/model.ts";
export type { JobStatus, TaskStatus } from "./core/states.ts";
export type { BulkCancelOptions, BulkFilter, CancelJobOptions, CancelTaskOptions } from "./core/requests.ts";
export type { JobSpecInput } from "./core/spec.ts";
export type { RemoteAdapter, RemotePollResult } from "./runners/remote.ts";
export type { HandlerContext, HandlerFunction } from "./runners/handler.ts";
export { HttpRemoteAdapter, httpAdapters } from "./runners/remote-http.ts";
export type { HttpRemoteConfig } from "./runners/remote-http.ts";
