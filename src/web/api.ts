/**
 * The UI's only way to the server: `fetch` on the same origin with the bearer token.
 * Every failure becomes an `ApiError` whose `text` is a sentence for a person — the server's
 * JSON error shape is never shown as such (see `describeError`).
 */
import type { BelayEvent, CancellationRecord, Job, LogLine } from "../core/model.ts";

export type { BelayEvent, CancellationRecord, Job, LogLine };
export type JobStatus = Job["status"];

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

async function readError(response: Response): Promise<ErrorBody | null> {
  try {
    const body = (await response.json()) as { error?: ErrorBody };
    return body.error !== undefined && typeof body.error.code === "string" ? body.error : null;
  } catch {
    return null;
  }
}

export interface RequestOptions {
  method?: "GET" | "POST" | "DELETE";
  body?: unknown;
  signal?: AbortSignal;
  context?: ErrorContext;
  /** Use this token instead of the session's (checking a pasted token). */
  token?: string;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<{ status: number; body: T }> {
  const token = options.token ?? session?.token;
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method: options.method ?? "GET",
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (error) {
    if (options.signal?.aborted === true) throw error;
    throw new ApiError(0, null, options.context);
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await readError(response), options.context);
    if (response.status === 401 && options.token === undefined) session?.onUnauthenticated?.();
    throw error;
  }
  const body = response.status === 204 ? (null as T) : ((await response.json()) as T);
  return { status: response.status, body };
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  const text = q.toString();
  return text === "" ? "" : `?${text}`;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
  total?: number;
}

export interface CancelResult {
  job: Job;
  cancellation: CancellationRecord;
  alreadyCancelled?: boolean;
}

export interface BulkResult {
  matched: number;
  cancelled: number;
  sample?: string[];
  cancellation: CancellationRecord | null;
}

export interface CancelOptions {
  reason?: string;
  force?: boolean;
}

function cancelBody(options: CancelOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (options.reason !== undefined && options.reason.trim() !== "") body["reason"] = options.reason.trim();
  if (options.force === true) body["force"] = true;
  return body;
}

export const belay = {
  listJobs: (params: { status?: string; queue?: string; owner?: string; label?: string; limit?: number; cursor?: string | null }, signal?: AbortSignal) =>
    api<Page<Job>>(`/jobs${query(params)}`, signal === undefined ? {} : { signal }).then((r) => r.body),
  getJob: (id: string, signal?: AbortSignal) => api<{ job: Job }>(`/jobs/${encodeURIComponent(id)}`, signal === undefined ? {} : { signal }).then((r) => r.body.job),
  jobEvents: (id: string, after: number, signal?: AbortSignal) =>
    api<Page<BelayEvent>>(`/jobs/${encodeURIComponent(id)}/events${query({ after, limit: 1000 })}`, signal === undefined ? {} : { signal }).then((r) => r.body),
  logs: (id: string, params: { task?: string; tail?: number; after?: number }, signal?: AbortSignal) =>
    api<{ items: LogLine[] }>(`/jobs/${encodeURIComponent(id)}/logs${query(params)}`, signal === undefined ? {} : { signal }).then((r) => r.body.items),
  cancelJob: (id: string, options: CancelOptions) =>
    api<CancelResult>(`/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", body: cancelBody(options), context: { action: "stop", what: "job" } }),
  cancelTask: (id: string, key: string, options: CancelOptions & { cascade: boolean }) =>
    api<CancelResult>(`/jobs/${encodeURIComponent(id)}/tasks/${encodeURIComponent(key)}/cancel`, {
      method: "POST",
      body: { ...cancelBody(options), cascade: options.cascade },
      context: { action: "stop", what: "task" },
    }),
  cancelJobs: (ids: string[], options: CancelOptions & { dryRun?: boolean }) =>
    api<BulkResult>("/jobs/cancel", {
      method: "POST",
      body: { filter: { ids }, ...(options.dryRun === true ? { dryRun: true, sampleSize: 0 } : cancelBody(options)) },
      context: { action: "stopping several jobs at once", what: "jobs" },
    }),
  resumeJob: (id: string) => api<{ job: Job }>(`/jobs/${encodeURIComponent(id)}/resume`, { method: "POST", body: {}, context: { action: "resume", what: "job" } }).then((r) => r.body.job),
  listCancellations: (params: { jobId?: string; status?: string; limit?: number; offset?: number }, signal?: AbortSignal) =>
    api<Page<CancellationRecord>>(`/cancellations${query(params)}`, signal === undefined ? {} : { signal }).then((r) => r.body),
  getCancellation: (id: string) => api<{ cancellation: CancellationRecord }>(`/cancellations/${encodeURIComponent(id)}`).then((r) => r.body.cancellation),
  /** Checks a token by listing one job. */
  checkToken: (token: string) => api<Page<Job>>("/jobs?limit=1", { token }),
  /** Exchange a one-time sign-in code (from the link `belay serve` / `belay ui` printed) for a session token. */
  async redeemSignInCode(code: string): Promise<string> {
    let response: Response;
    try {
      response = await fetch("/ui/sign-in", { method: "POST", headers: { accept: "application/json", "content-type": "application/json" }, body: JSON.stringify({ code }) });
    } catch {
      throw new ApiError(0, null);
    }
    if (!response.ok) throw new ApiError(response.status, await readError(response));
    return ((await response.json()) as { token: string }).token;
  },
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
