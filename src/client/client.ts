/**
 * `BelayClient`: the HTTP API of DESIGN §5 from any program: Node (the `belay` CLI, the MCP
 * tools) or a browser (the web UI). One method per route under /api/v1, each returning the
 * parsed response body; every error answer becomes a `BelayApiError` carrying the server's
 * code, and a server that cannot be reached a `BelayNetworkError`. It depends on nothing but
 * `fetch`, streams and the contract's types: no `node:` module, so a bundler can take it as is.
 */
import type { BelayEvent, Job } from "../core/model.ts";
import { BelayApiError, BelayNetworkError } from "./errors.ts";
import { EventStream } from "./events.ts";
import { wake } from "./wake.ts";
import type { EventsOptions } from "./events.ts";
import type {
  CreateScheduleRequest,
  QueuePage,
  QueueResponse,
  SchedulePage,
  ScheduleResponse,
  BulkCancelRequest,
  BulkCancelResponse,
  CancelJobRequest,
  CancellationPage,
  CancellationResponse,
  CancellationsQuery,
  CancelPreviewResponse,
  CancelResponse,
  CancelTaskRequest,
  CreatedToken,
  CreateTokenRequest,
  EventPage,
  JobPage,
  JobTreeResponse,
  JobResponse,
  BatchSubmitResponse,
  JobSpecInput,
  ListJobsQuery,
  LogPage,
  LogsQuery,
  SignInCode,
  SignInCodeRequest,
  TokenList,
  Pool,
  WhoAmI,
} from "./types.ts";

export interface BelayClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:7420` (the `/api/v1` prefix is added); "" in a page the server serves (same origin). */
  url: string;
  /** Bearer token; null or unset sends none (only health routes work then). */
  token?: string | null | undefined;
  /** A fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch | undefined;
}

/** Per call: aborting `signal` aborts the request. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface WaitOptions {
  /** Give up waiting after this long, in ms, and resolve with the job as it is then. Default 60 000. */
  timeoutMs?: number | undefined;
  /** Re-read the job this often, in ms, besides the events that wake the wait. Default 1000. */
  pollIntervalMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

type Query = Record<string, string | number | string[] | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** The path is the server's own (`/ui/sign-in`), not under `/api/v1`. */
  outsideApi?: boolean;
}

const terminalJobStatuses = new Set(["succeeded", "failed", "partial", "cancelled"]);

export function isTerminalStatus(status: string): boolean {
  return terminalJobStatuses.has(status);
}

export class BelayClient {
  readonly url: string;
  private readonly token: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(options: BelayClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token ?? null;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** GET /whoami: the calling token's principal and role. */
  whoami(): Promise<WhoAmI> {
    return this.request("GET", "/whoami");
  }

  /** GET /pools: each resource pool's capacity and the tasks holding its slots. */
  listPools(call: CallOptions = {}): Promise<{ items: Pool[] }> {
    return this.request("GET", "/pools", signalOf(call));
  }

  // ---- schedules and queues (DESIGN §7) ----------------------------------------------------

  /** POST /schedules: 201 with the schedule (400 naming `cron` or `timeZone` when one is bad). */
  createSchedule(request: CreateScheduleRequest, call: CallOptions = {}): Promise<ScheduleResponse> {
    return this.request("POST", "/schedules", { body: request, ...signalOf(call) });
  }

  /** Every schedule, with its next run (`nextRunAt`, null while paused). */
  listSchedules(call: CallOptions = {}): Promise<SchedulePage> {
    return this.request("GET", "/schedules", signalOf(call));
  }

  /** By id, or by the name of one of the caller's schedules. */
  getSchedule(idOrName: string, call: CallOptions = {}): Promise<ScheduleResponse> {
    return this.request("GET", `/schedules/${enc(idOrName)}`, signalOf(call));
  }

  pauseSchedule(idOrName: string, call: CallOptions = {}): Promise<ScheduleResponse> {
    return this.request("POST", `/schedules/${enc(idOrName)}/pause`, signalOf(call));
  }

  resumeSchedule(idOrName: string, call: CallOptions = {}): Promise<ScheduleResponse> {
    return this.request("POST", `/schedules/${enc(idOrName)}/resume`, signalOf(call));
  }

  deleteSchedule(idOrName: string, call: CallOptions = {}): Promise<ScheduleResponse> {
    return this.request("DELETE", `/schedules/${enc(idOrName)}`, signalOf(call));
  }

  listQueues(call: CallOptions = {}): Promise<QueuePage> {
    return this.request("GET", "/queues", signalOf(call));
  }

  /** A paused queue's tasks are not claimed (they can still be cancelled). */
  pauseQueue(name: string, options: { reason?: string | null } = {}, call: CallOptions = {}): Promise<QueueResponse> {
    return this.request("POST", `/queues/${enc(name)}/pause`, { body: options, ...signalOf(call) });
  }

  resumeQueue(name: string, call: CallOptions = {}): Promise<QueueResponse> {
    return this.request("POST", `/queues/${enc(name)}/resume`, signalOf(call));
  }

  // ---- jobs ----------------------------------------------------------------------------

  /** POST /jobs: 201 with the new job, or 200 with the earlier one for a reused `idempotencyKey`. */
  submitJob(spec: JobSpecInput, call: CallOptions = {}): Promise<JobResponse> {
    return this.request("POST", "/jobs", { body: spec, ...signalOf(call) });
  }

  /**
   * POST /jobs/batch: 1 to 10,000 specs stored all or none; `created` is false for a spec
   * whose `idempotencyKey` the caller already used. A bad spec refuses the batch (400,
   * `details.index` names it).
   */
  submitJobs(specs: JobSpecInput[]): Promise<BatchSubmitResponse> {
    return this.request("POST", "/jobs/batch", { body: { jobs: specs } });
  }

  listJobs(query: ListJobsQuery = {}, call: CallOptions = {}): Promise<JobPage> {
    const status = Array.isArray(query.status) ? query.status.join(",") : query.status;
    const label = query.labels === undefined ? undefined : Object.entries(query.labels).map(([k, v]) => `${k}=${v}`);
    return this.request("GET", "/jobs", {
      query: { status, queue: query.queue, label, owner: query.owner, idPrefix: query.idPrefix, name: query.name, scheduleId: query.scheduleId, createdAfter: query.createdAfter, createdBefore: query.createdBefore, parent: query.parent, limit: query.limit, cursor: query.cursor },
      ...signalOf(call),
    });
  }

  getJob(id: string, call: CallOptions = {}): Promise<JobResponse> {
    return this.request("GET", `/jobs/${enc(id)}`, signalOf(call));
  }

  /** GET /jobs/{id}/tree: the job and its descendants, each node `{job, children}` (DESIGN §7). */
  getJobTree(id: string, call: CallOptions = {}): Promise<JobTreeResponse> {
    return this.request("GET", `/jobs/${enc(id)}/tree`, signalOf(call));
  }

  /** The job's stored events after the event seq `after`. */
  getJobEvents(id: string, query: { after?: number | undefined; limit?: number | undefined } = {}, call: CallOptions = {}): Promise<EventPage> {
    return this.request("GET", `/jobs/${enc(id)}/events`, { query: { after: query.after, limit: query.limit }, ...signalOf(call) });
  }

  getLogs(id: string, query: LogsQuery = {}, call: CallOptions = {}): Promise<LogPage> {
    return this.request("GET", `/jobs/${enc(id)}/logs`, { query: { task: query.task, tail: query.tail, after: query.after }, ...signalOf(call) });
  }

  /** A resume takes no options (the request has no body). */
  resumeJob(id: string, call: CallOptions = {}): Promise<JobResponse> {
    return this.request("POST", `/jobs/${enc(id)}/resume`, signalOf(call));
  }

  // ---- cancellation ----------------------------------------------------------------------

  /**
   * 200 when the job is cancelled (at once, or already: `alreadyCancelled`), 202 while the
   * cancellation runs. `dryRun: true`: 200 with `preview`, what the cancel would do; nothing changes.
   */
  cancelJob(id: string, request: CancelJobRequest & { dryRun: true }, call?: CallOptions): Promise<CancelPreviewResponse>;
  cancelJob(id: string, request?: CancelJobRequest & { dryRun?: false | undefined }, call?: CallOptions): Promise<CancelResponse>;
  cancelJob(id: string, request?: CancelJobRequest, call?: CallOptions): Promise<CancelResponse | CancelPreviewResponse>;
  cancelJob(id: string, request: CancelJobRequest = {}, call: CallOptions = {}): Promise<CancelResponse | CancelPreviewResponse> {
    return this.request("POST", `/jobs/${enc(id)}/cancel`, { body: request, ...signalOf(call) });
  }

  cancelTask(id: string, key: string, request: CancelTaskRequest & { dryRun: true }, call?: CallOptions): Promise<CancelPreviewResponse>;
  cancelTask(id: string, key: string, request?: CancelTaskRequest & { dryRun?: false | undefined }, call?: CallOptions): Promise<CancelResponse>;
  cancelTask(id: string, key: string, request?: CancelTaskRequest, call?: CallOptions): Promise<CancelResponse | CancelPreviewResponse>;
  cancelTask(id: string, key: string, request: CancelTaskRequest = {}, call: CallOptions = {}): Promise<CancelResponse | CancelPreviewResponse> {
    return this.request("POST", `/jobs/${enc(id)}/tasks/${enc(key)}/cancel`, { body: request, ...signalOf(call) });
  }

  /** Bulk cancel by filter (operator role); `dryRun` only counts. */
  cancelJobs(request: BulkCancelRequest, call: CallOptions = {}): Promise<BulkCancelResponse> {
    return this.request("POST", "/jobs/cancel", { body: request, ...signalOf(call) });
  }

  /** The job's latest cancellation record, with its steps (NOT_FOUND if it has none). */
  getJobCancellation(id: string, call: CallOptions = {}): Promise<CancellationResponse> {
    return this.request("GET", `/jobs/${enc(id)}/cancellation`, signalOf(call));
  }

  listCancellations(query: CancellationsQuery = {}, call: CallOptions = {}): Promise<CancellationPage> {
    return this.request("GET", "/cancellations", { query: { jobId: query.jobId, parentId: query.parentId, status: query.status, limit: query.limit, offset: query.offset }, ...signalOf(call) });
  }

  getCancellation(id: string, call: CallOptions = {}): Promise<CancellationResponse> {
    return this.request("GET", `/cancellations/${enc(id)}`, signalOf(call));
  }

  // ---- tokens (admin) ----------------------------------------------------------------------

  /** The answer's `token` is the secret: the server never shows it again. */
  createToken(request: CreateTokenRequest): Promise<CreatedToken> {
    return this.request("POST", "/tokens", { body: request });
  }

  listTokens(): Promise<TokenList> {
    return this.request("GET", "/tokens");
  }

  async revokeToken(id: string): Promise<void> {
    await this.request("DELETE", `/tokens/${enc(id)}`);
  }

  /** A one-time sign-in code for the web UI (admin); `belay ui` prints its link. */
  createSignInCode(request: SignInCodeRequest = {}): Promise<SignInCode> {
    return this.request("POST", "/sign-in-codes", { body: request });
  }

  /**
   * POST /ui/sign-in (the web UI's route, outside the API): exchange a one-time sign-in code
   * for a session token. Needs no token; a used or expired code is a 401 BelayApiError.
   */
  async redeemSignInCode(code: string, call: CallOptions = {}): Promise<string> {
    const answer = await this.request<{ token: string }>("POST", "/ui/sign-in", { body: { code }, outsideApi: true, ...signalOf(call) });
    return answer.token;
  }

  // ---- events and waiting ----------------------------------------------------------------

  /**
   * Open `GET /events` and resolve once the server has answered (so it has subscribed this
   * client: no later event is missed). Iterate the result for the events.
   */
  async connectEvents(options: EventsOptions = {}): Promise<EventStream> {
    const controller = new AbortController();
    const signal = options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
    const response = await this.send("GET", "/events", { query: { jobId: options.jobId }, signal, headers });
    if (response.body === null) throw new BelayApiError("BAD_RESPONSE", "the event stream has no body", response.status);
    return new EventStream(response.body, controller, signal, options.lastEventId ?? null);
  }

  /** The live events (CloudEvents 1.0 objects), optionally of one job, until `signal` aborts or the server closes the stream. */
  async *events(options: EventsOptions = {}): AsyncGenerator<BelayEvent, void, undefined> {
    const stream = await this.connectEvents(options);
    try {
      yield* stream;
    } finally {
      stream.close();
    }
  }

  /**
   * Resolve with the job once it is terminal, or with its latest state when `timeoutMs` has
   * passed (as the library's `waitForJob`). Woken by the job's events, re-read every
   * `pollIntervalMs` in case the stream is unavailable.
   */
  async waitForJob(id: string, options: WaitOptions = {}): Promise<Job> {
    const controller = new AbortController();
    const signal = options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
    const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 60_000);
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    let events: AsyncIterator<BelayEvent> | null = null;
    try {
      try {
        events = (await this.connectEvents({ jobId: id, signal }))[Symbol.asyncIterator]();
      } catch (error) {
        if (error instanceof BelayApiError && error.status === 404) throw error;
        // No stream (a proxy that buffers, say): polling alone still works.
      }
      let next: Promise<IteratorResult<BelayEvent>> | null = null;
      let read = true;
      for (;;) {
        if (read) {
          const { job } = await this.getJob(id);
          if (isTerminalStatus(job.status) || signal.aborted) return job;
        }
        const woken = await wake(events === null ? null : (next ??= events.next()), pollIntervalMs, signal);
        if (woken === "timer") {
          read = true;
          continue;
        }
        next = null;
        if (woken === "ended") events = null;
        // Only a job-level event (or the stream's end) can mean the job is over.
        read = woken === "ended" || woken.type.startsWith("belay.job.");
      }
    } finally {
      clearTimeout(timer);
      controller.abort();
      await events?.return?.();
    }
  }

  // ---- transport -------------------------------------------------------------------------

  private async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new BelayApiError("BAD_RESPONSE", `${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, response.status);
    }
  }

  /** Send a request; resolve with a 2xx response, throw the API's error otherwise. */
  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const url = `${this.url}${options.outsideApi === true ? "" : "/api/v1"}${path}${queryString(options.query)}`;
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (this.token !== null) headers["authorization"] = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new BelayNetworkError(this.url, error);
    }
    if (response.ok) return response;
    throw await toApiError(response, `${method} ${path}`);
  }
}

async function toApiError(response: Response, what: string): Promise<BelayApiError> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const error = body.error;
    if (error !== undefined && typeof error.code === "string") {
      const details = typeof error.details === "object" && error.details !== null ? (error.details as Record<string, unknown>) : undefined;
      return new BelayApiError(error.code as BelayApiError["code"], typeof error.message === "string" ? error.message : error.code, response.status, details);
    }
  } catch {
    // Not JSON: reported below.
  }
  return new BelayApiError("BAD_RESPONSE", `${what}: HTTP ${response.status} ${response.statusText}${text === "" ? "" : `: ${text.slice(0, 200)}`}`, response.status);
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) params.append(key, String(item));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function signalOf(call: CallOptions): { signal?: AbortSignal } {
  return call.signal === undefined ? {} : { signal: call.signal };
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}
