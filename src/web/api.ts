/**
 * The UI's way to the server: the typed client of src/client (the one HTTP client of Belay:
 * its transport, SSE parsing and error mapping), on the same origin with the session's token.
 * What is the UI's own is here: the session, and the sentence for a person each error
 * becomes (`ApiError.text`, see `describeError`) — the server's JSON is never shown as such.
 */
import { BelayApiError, BelayClient, BelayNetworkError, cancelAnswerStatus, requestLimits } from "../client/index.ts";
import type { BelayEvent, BulkCancelResponse, CancellationRecord, CancelResponse, Job, JobTreeNode, JobTreeResponse, LogLine } from "../client/index.ts";

export type { BelayEvent, CancellationRecord, Job, JobTreeNode, JobTreeResponse, LogLine };
export type JobStatus = Job["status"];

/** Longest stop reason (the contract's limit, core's `requestLimits`): the reason fields' `maxLength`. The browser counts UTF-16 units, the server code points, so the field never lets through more than the server takes. */
export const maxReasonChars = requestLimits.reasonChars;

const tokenKey = "belay.token";

/**
 * The code of a sign-in link (`/#sign-in=<code>`), taken out of the address bar at once so
 * it is neither kept in history nor shared by copying the URL. Null when the page has none.
 */
export function takeSignInCode(): string | null {
  const match = /^#sign-in=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (match?.[1] === undefined) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return match[1];
}

export function loadToken(): string | null {
  try {
    return localStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  try {
    if (token === null) localStorage.removeItem(tokenKey);
    else localStorage.setItem(tokenKey, token);
  } catch {
    // Private mode without storage: the token lives as long as the page.
  }
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** What to show: a sentence, never JSON. */
  readonly text: string;

  constructor(status: number, body: ErrorBody | null, context: ErrorContext = {}) {
    super(body?.message ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code ?? (status === 0 ? "NETWORK" : `HTTP_${status}`);
    this.details = body?.details ?? {};
    this.text = describeError(status, this.code, body?.message ?? null, this.details, context);
  }
}

/** What the request was about, so an error can name it ("This task already finished"). */
export interface ErrorContext {
  action?: string;
  what?: "job" | "task" | "jobs";
}

const roleWords: Record<string, string> = {
  viewer: "viewer (read only)",
  user: "user (submit, stop and resume your own jobs)",
  operator: "operator (stop and resume anyone's jobs, stop many at once)",
  admin: "admin",
};

export function describeError(status: number, code: string, message: string | null, details: Record<string, unknown>, context: ErrorContext = {}): string {
  const thing = context.what === "task" ? "task" : "job";
  switch (code) {
    case "NETWORK":
      return "Could not reach the Belay server. Check that it is running and that this page's address is right, then try again.";
    case "JOB_ALREADY_FINISHED":
      return "This job already finished — nothing to cancel.";
    case "TASK_ALREADY_FINISHED":
      return "This task already finished — nothing to cancel.";
    case "JOB_NOT_PENDING":
      return "This job has already started, and the request only allowed stopping a job that had not started yet.";
    case "JOB_NOT_RESUMABLE":
      return "Only a cancelled, failed or partial job can be resumed — this one is not (it may still be running, or have succeeded).";
    case "JOB_NOT_FOUND":
      return "There is no such job on this server. The link may be wrong, or the job may belong to another server.";
    case "TASK_NOT_FOUND":
      return "This job has no task with that name.";
    case "UNAUTHENTICATED":
      return "The server did not accept your token (it is missing, unknown or revoked). Sign in again with a valid token.";
    case "FORBIDDEN": {
      const needed = typeof details["needed"] === "string" ? details["needed"] : null;
      const role = typeof details["role"] === "string" ? details["role"] : null;
      if (details["reason"] === "not_local") return "The server only offers its admin token to a browser on the same machine. Paste a token instead.";
      if (needed !== null && needed === "operator" && role === "user" && context.what !== "jobs") {
        return `You can only ${context.action ?? "change"} your own jobs: this ${thing} belongs to someone else, and acting on it needs the ${roleWords["operator"]} role. Your token has the ${roleWords["user"]} role.`;
      }
      if (needed !== null) {
        return `${capitalise(context.action ?? "this")} needs the ${roleWords[needed] ?? needed} role${role === null ? "" : `; your token has the ${roleWords[role] ?? role} role`}. Ask an admin for a token with more rights.`;
      }
      return "Your token is not allowed to do this. Ask an admin for a token with more rights.";
    }
    case "RATE_LIMITED":
      return "Too many requests in a short time. Wait a moment and try again.";
    case "STORE_UNAVAILABLE":
      return "The server lost its database connection for a moment; nothing was changed. Try again.";
    case "PAYLOAD_TOO_LARGE":
      return "The request was too large for the server.";
    case "INVALID_REQUEST":
      return `The server could not accept this request: ${lowerFirst(message ?? "it was invalid")}.`.replace(/\.\.$/, ".");
    case "NOT_FOUND":
      return "Not found on the server.";
    default:
      if (status >= 500) return "The server ran into an internal error. Try again; if it keeps happening, check the server's log.";
      return message === null ? `The request failed (HTTP ${status}).` : `The request failed: ${lowerFirst(message)}`;
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

export interface Session {
  token: string;
  /** Called on a 401 so the app can ask for a token again. */
  onUnauthenticated?: () => void;
}

let session: Session | null = null;

export function setSession(next: Session | null): void {
  session = next;
}

/** A client on this page's origin with `token` (default: the session's). */
function client(token?: string | null): BelayClient {
  return new BelayClient({ url: "", token: token === undefined ? (session?.token ?? null) : token });
}

/**
 * Run one call of the client; its errors become `ApiError`s (with the sentence to show), and a
 * 401 on the session's token tells the app to ask for a token again.
 */
async function call<T>(run: (c: BelayClient) => Promise<T>, options: { context?: ErrorContext; token?: string; anonymous?: boolean; signal?: AbortSignal } = {}): Promise<T> {
  try {
    return await run(client(options.anonymous === true ? null : options.token));
  } catch (error) {
    if (options.signal?.aborted === true) throw error;
    if (error instanceof BelayApiError) {
      if (error.status === 401 && options.token === undefined && options.anonymous !== true) session?.onUnauthenticated?.();
      throw new ApiError(error.status, error.code === "BAD_RESPONSE" ? null : { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) }, options.context);
    }
    if (error instanceof BelayNetworkError) throw new ApiError(0, null, options.context);
    throw error;
  }
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
  total?: number;
}

export type CancelResult = CancelResponse;
export type BulkResult = BulkCancelResponse;

export interface CancelOptions {
  reason?: string;
  force?: boolean;
}

function cancelBody(options: CancelOptions): { reason?: string; force?: boolean } {
  const body: { reason?: string; force?: boolean } = {};
  if (options.reason !== undefined && options.reason.trim() !== "") body.reason = options.reason.trim();
  if (options.force === true) body.force = true;
  return body;
}

/** "" and null are "not set" in the pages' filters. */
function given<T>(value: T | "" | null | undefined): T | undefined {
  return value === "" || value === null ? undefined : value;
}

const withSignal = (signal?: AbortSignal) => (signal === undefined ? {} : { signal });

export const belay = {
  listJobs: (params: { status?: string; queue?: string; owner?: string; label?: string; limit?: number; cursor?: string | null }, signal?: AbortSignal) => {
    const status = given(params.status);
    const label = given(params.label);
    return call(
      (c) =>
        c.listJobs(
          {
            status: status?.split(",") as JobStatus[] | undefined,
            queue: given(params.queue),
            owner: given(params.owner),
            labels: label === undefined ? undefined : Object.fromEntries([label.split(/=(.*)/s).slice(0, 2) as [string, string]]),
            limit: params.limit,
            cursor: given(params.cursor),
          },
          withSignal(signal),
        ),
      withSignal(signal),
    );
  },
  /** The job boards' search: name substring, `key=value` labels (every one must match), created after. */
  searchJobs: (
    params: { status?: string; queue?: string; owner?: string; name?: string; labels?: string[]; createdAfter?: string | null; limit?: number; cursor?: string | null },
    signal?: AbortSignal,
  ) => {
    const status = given(params.status);
    const labels = (params.labels ?? []).filter((l) => l !== "").map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]);
    return call(
      (c) =>
        c.listJobs(
          {
            status: status?.split(",") as JobStatus[] | undefined,
            queue: given(params.queue),
            owner: given(params.owner),
            name: given(params.name),
            labels: labels.length === 0 ? undefined : Object.fromEntries(labels),
            createdAfter: given(params.createdAfter),
            limit: params.limit,
            cursor: given(params.cursor),
          },
          withSignal(signal),
        ),
      withSignal(signal),
    );
  },
  whoami: () => call((c) => c.whoami()),
  listPools: (signal?: AbortSignal) => call((c) => c.listPools(withSignal(signal)), withSignal(signal)).then((r) => r.items),
  listSchedules: (signal?: AbortSignal) => call((c) => c.listSchedules(withSignal(signal)), withSignal(signal)).then((r) => r.items),
  pauseSchedule: (id: string) => call((c) => c.pauseSchedule(id), { context: { action: "pause the schedule" } }).then((r) => r.schedule),
  resumeSchedule: (id: string) => call((c) => c.resumeSchedule(id), { context: { action: "resume the schedule" } }).then((r) => r.schedule),
  listQueues: (signal?: AbortSignal) => call((c) => c.listQueues(withSignal(signal)), withSignal(signal)).then((r) => r.items),
  pauseQueue: (name: string) => call((c) => c.pauseQueue(name), { context: { action: "pause the queue" } }).then((r) => r.queue),
  resumeQueue: (name: string) => call((c) => c.resumeQueue(name), { context: { action: "resume the queue" } }).then((r) => r.queue),
  getJob: (id: string, signal?: AbortSignal) => call((c) => c.getJob(id, withSignal(signal)), withSignal(signal)).then((r) => r.job),
  /** The job and its child jobs (DESIGN §7). */
  getJobTree: (id: string, signal?: AbortSignal) => call((c) => c.getJobTree(id, withSignal(signal)), withSignal(signal)),
  jobEvents: (id: string, after: number, signal?: AbortSignal) => call((c) => c.getJobEvents(id, { after, limit: 1000 }, withSignal(signal)), withSignal(signal)),
  logs: (id: string, params: { task?: string; tail?: number; after?: number }, signal?: AbortSignal) =>
    call((c) => c.getLogs(id, params, withSignal(signal)), withSignal(signal)).then((r) => r.items),
  /** The answer's status (200 done, 202 under way) and body. */
  cancelJob: (id: string, options: CancelOptions) =>
    call((c) => c.cancelJob(id, cancelBody(options)), { context: { action: "stop", what: "job" } }).then((body) => ({ status: cancelAnswerStatus(body), body })),
  cancelTask: (id: string, key: string, options: CancelOptions & { cascade: boolean }) =>
    call((c) => c.cancelTask(id, key, { ...cancelBody(options), cascade: options.cascade }), { context: { action: "stop", what: "task" } }).then((body) => ({ status: cancelAnswerStatus(body), body })),
  /** What stopping the job would do (a dry run of the same cancel: nothing changes). */
  previewJobCancel: (id: string, options: CancelOptions, signal?: AbortSignal) =>
    call((c) => c.cancelJob(id, { ...cancelBody(options), dryRun: true }, withSignal(signal)), withSignal(signal)).then((r) => r.preview),
  previewTaskCancel: (id: string, key: string, options: CancelOptions & { cascade: boolean }, signal?: AbortSignal) =>
    call((c) => c.cancelTask(id, key, { ...cancelBody(options), cascade: options.cascade, dryRun: true }, withSignal(signal)), withSignal(signal)).then((r) => r.preview),
  cancelJobs: (ids: string[], options: CancelOptions & { dryRun?: boolean }) =>
    call((c) => c.cancelJobs({ filter: { ids }, ...(options.dryRun === true ? { dryRun: true, sampleSize: 0 } : cancelBody(options)) }), {
      context: { action: "stopping several jobs at once", what: "jobs" },
    }).then((body) => ({ status: cancelAnswerStatus(body), body })),
  resumeJob: (id: string) => call((c) => c.resumeJob(id), { context: { action: "resume", what: "job" } }).then((r) => r.job),
  listCancellations: (params: { jobId?: string; status?: string; limit?: number; offset?: number }, signal?: AbortSignal) =>
    call(
      (c) =>
        c.listCancellations(
          { jobId: given(params.jobId), status: given(params.status) as CancellationRecord["status"] | undefined, limit: params.limit, offset: params.offset },
          withSignal(signal),
        ),
      withSignal(signal),
    ),
  getCancellation: (id: string) => call((c) => c.getCancellation(id)).then((r) => r.cancellation),
  /** Checks a token by listing one job. */
  checkToken: (token: string) => call((c) => c.listJobs({ limit: 1 }), { token }),
  /** Exchange a one-time sign-in code (from the link `belay serve` / `belay ui` printed) for a session token: sent with no token, and its 401 (a used or expired code) is not the session's. */
  redeemSignInCode: (code: string) => call((c) => c.redeemSignInCode(code), { anonymous: true }),
};

export const activeStatuses: JobStatus[] = ["queued", "running", "cancelling"];
export const finishedStatuses: JobStatus[] = ["succeeded", "failed", "partial", "cancelled"];

export function isActive(status: JobStatus): boolean {
  return activeStatuses.includes(status);
}

export function message(error: unknown): string {
  if (error instanceof ApiError) return error.text;
  if (error instanceof Error && error.name === "AbortError") return "";
  return "Something went wrong in the page. Reload it and try again.";
}
