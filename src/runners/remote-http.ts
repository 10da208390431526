/**
 * The built-in `http` remote adapter: a remote job service reached over a small REST
 * contract (docs/remote-adapter.md).
 *
 * - `POST {baseUrl}/jobs` `{input, belay}` → 2xx `{id, state}`
 * - `GET {baseUrl}/jobs/{id}` → 200 `{id, state, progress?, output?, error?}`
 * - `POST {baseUrl}/jobs/{id}/cancel` → 200/202 accepted; 409 cannot be cancelled; else failure
 *
 * Every request is bounded by `timeoutMs`. Every failure throws an `HttpRemoteError` whose
 * message names the request, the status and the service's own message: it ends up verbatim
 * in task errors and cancellation records, where an operator reads it.
 */
import type { Json } from "../core/model.ts";
import type { RemoteAdapter, RemotePollResult, RemoteState, RemoteSubmitContext } from "./remote.ts";
import type { ProgressUpdate } from "./types.ts";

export interface HttpRemoteOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:7421` (a trailing slash is ignored). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Bound of each request, in ms. Default 5000. */
  timeoutMs?: number;
}

/** One remote: a URL, or a URL with a token and a request timeout. */
export type HttpRemoteConfig = string | { url: string; token?: string; timeoutMs?: number };

export class HttpRemoteError extends Error {
  /** HTTP status of the answer; null when there was none (refused, timed out). */
  readonly status: number | null;
  constructor(message: string, status: number | null, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpRemoteError";
    this.status = status;
  }
}

const remoteStates: readonly RemoteState[] = ["queued", "running", "succeeded", "failed", "cancelled"];

interface Answer {
  status: number;
  body: unknown;
}

export class HttpRemoteAdapter implements RemoteAdapter {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: HttpRemoteOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new Error(`remote base URL "${options.baseUrl}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`remote base URL "${options.baseUrl}" must be http or https`);
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error(`remote timeoutMs must be a positive integer, got ${timeoutMs}`);
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = timeoutMs;
  }

  async submit(input: Json, ctx: RemoteSubmitContext): Promise<{ remoteId: string }> {
    const belay = { jobId: ctx.jobId, taskKey: ctx.taskKey, attempt: ctx.attempt, params: ctx.params, lastCheckpoint: ctx.lastCheckpoint };
    const answer = await this.#request("POST", "/jobs", { input, belay });
    if (answer.status < 200 || answer.status > 299) throw this.#refused("POST", "/jobs", answer);
    const id = field(answer.body, "id");
    if (typeof id !== "string" || id === "") throw new HttpRemoteError(`POST ${this.baseUrl}/jobs answered ${answer.status} without a job id`, answer.status);
    return { remoteId: id };
  }

  async poll(remoteId: string): Promise<RemotePollResult> {
    const path = `/jobs/${encodeURIComponent(remoteId)}`;
    const answer = await this.#request("GET", path);
    if (answer.status !== 200) throw this.#refused("GET", path, answer);
    const state = field(answer.body, "state");
    if (typeof state !== "string" || !(remoteStates as readonly string[]).includes(state)) {
      throw new HttpRemoteError(`GET ${this.baseUrl}${path} answered an unknown state ${JSON.stringify(state)}`, answer.status);
    }
    const result: RemotePollResult = { state: state as RemoteState };
    const progress = progressOf(field(answer.body, "progress"));
    if (progress !== undefined) result.progress = progress;
    const output = field(answer.body, "output");
    if (output !== undefined) result.output = output as Json;
    const error = field(answer.body, "error");
    if (typeof error === "string") result.error = error;
    else if (error !== undefined && error !== null) {
      const message = field(error, "message");
      result.error = typeof message === "string" ? message : JSON.stringify(error);
    }
    return result;
  }

  async cancel(remoteId: string): Promise<void> {
    const path = `/jobs/${encodeURIComponent(remoteId)}/cancel`;
    const answer = await this.#request("POST", path, {});
    if (answer.status === 200 || answer.status === 202) return;
    if (answer.status === 409) {
      throw new HttpRemoteError(`remote job ${remoteId} cannot be cancelled (409): ${messageIn(answer.body) ?? "it has already finished"}`, 409);
    }
    throw this.#refused("POST", path, answer);
  }

  async #request(method: "GET" | "POST", path: string, body?: unknown): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.#token !== undefined) headers["authorization"] = `Bearer ${this.#token}`;
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await fetch(url, { method, headers, signal, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      // The body is read under the same deadline: a service that sends headers and then stalls is as dead as a silent one.
      const text = await response.text();
      return { status: response.status, body: parseJson(text) };
    } catch (error) {
      if (signal.aborted) throw new HttpRemoteError(`${method} ${url}: no answer within ${this.#timeoutMs} ms`, null, { cause: error });
      throw new HttpRemoteError(`${method} ${url} failed: ${causeOf(error)}`, null, { cause: error });
    }
  }

  #refused(method: string, path: string, answer: Answer): HttpRemoteError {
    const said = messageIn(answer.body);
    return new HttpRemoteError(`${method} ${this.baseUrl}${path} answered ${answer.status}${said === undefined ? "" : `: ${said}`}`, answer.status);
  }
}

/** Adapters for `openBelay({adapters})`, one per named remote (`--remote NAME=URL`). */
export function httpAdapters(remotes: Record<string, HttpRemoteConfig>): Record<string, HttpRemoteAdapter> {
  const adapters: Record<string, HttpRemoteAdapter> = {};
  for (const [name, config] of Object.entries(remotes)) {
    const options: HttpRemoteOptions = typeof config === "string" ? { baseUrl: config } : { baseUrl: config.url };
    if (typeof config !== "string") {
      if (config.token !== undefined) options.token = config.token;
      if (config.timeoutMs !== undefined) options.timeoutMs = config.timeoutMs;
    }
    try {
      adapters[name] = new HttpRemoteAdapter(options);
    } catch (error) {
      throw new Error(`remote "${name}": ${(error as Error).message}`, { cause: error });
    }
  }
  return adapters;
}

function field(body: unknown, name: string): unknown {
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)[name] : undefined;
}

function parseJson(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The service's own words: `{error: {message}}` (Belay's shape), `{error: "…"}`, `{message}`, or a short text body. */
function messageIn(body: unknown): string | undefined {
  const error = field(body, "error");
  const nested = field(error, "message");
  if (typeof nested === "string") return nested;
  if (typeof error === "string") return error;
  const message = field(body, "message");
  if (typeof message === "string") return message;
  if (typeof body === "string" && body.trim() !== "") return body.trim().slice(0, 500);
  return undefined;
}

function progressOf(value: unknown): ProgressUpdate | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const progress: ProgressUpdate = {};
  const ratio = field(value, "ratio");
  if (typeof ratio === "number" && Number.isFinite(ratio)) progress.ratio = ratio;
  const message = field(value, "message");
  if (typeof message === "string") progress.message = message;
  const data = field(value, "data");
  if (data !== undefined) progress.data = data as Json;
  return Object.keys(progress).length === 0 ? undefined : progress;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS error) is in its cause. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    // A refused connection to a name with several addresses is an AggregateError with an empty message.
    const code = (cause as NodeJS.ErrnoException).code;
    if (cause.message === "") return code ?? cause.name;
    return code !== undefined && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}
