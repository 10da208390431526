/**
 * Request and response bodies of the HTTP API (DESIGN §5), as the client sends and receives
 * them. The request and response shapes are the contract's (src/core/requests.ts and
 * responses.ts), declared once there; the model types (Job, CancellationRecord, BelayEvent, …)
 * are those of src/core/model.ts. Here only what is the client's own: the form of its
 * methods' options, and the token routes.
 */
import type { Job } from "../core/model.ts";
import type { JobSpecInput } from "../core/spec.ts";
import type { JobStatus } from "../core/states.ts";

export type { JobSpecInput };
export type {
  BulkCancelRequest,
  BulkFilter as BulkCancelFilter,
  CancelJobRequest,
  CancellationsQuery,
  CancelTaskRequest,
  LogsQuery,
} from "../core/requests.ts";
export type { CancelPreview, PreviewRunner } from "../core/preview.ts";
export type { BulkCancelResponse, CancellationPage, CancellationResponse, CancelPreviewResponse, CancelResponse, EventPage, JobPage, JobResponse, LogPage } from "../core/responses.ts";
export type { Queue, QueuePage, QueueResponse, SchedulePage, ScheduleResponse } from "../core/responses.ts";
export type { CatchUpPolicy, CreateScheduleRequest, OverlapPolicy, Schedule, ScheduleOutcome } from "../core/schedules.ts";

export type Role = "viewer" | "user" | "operator" | "admin";

/** POST /jobs/batch: one result per spec, in the specs' order. */
export interface BatchSubmitResponse {
  jobs: Array<{ job: Job; created: boolean }>;
}

export interface ListJobsQuery {
  /** One status or several (sent comma-separated). */
  status?: JobStatus | JobStatus[] | undefined;
  queue?: string | undefined;
  /** Every label must match. */
  labels?: Record<string, string> | undefined;
  owner?: string | undefined;
  /** Only jobs whose id starts with this. */
  idPrefix?: string | undefined;
  /** Case-insensitive substring of the job name. */
  name?: string | undefined;
  /** Only jobs made by this schedule. */
  scheduleId?: string | undefined;
  /** ISO 8601 times: created at or after / strictly before. */
  createdAfter?: string | undefined;
  createdBefore?: string | undefined;
  /** Only the children of this job (DESIGN §7). */
  parent?: string | undefined;
  /** 1..1000, default 50. */
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface PoolHolder {
  jobId: string;
  taskKey: string;
  nodeId: string | null;
  since: string | null;
}

export interface Pool {
  name: string;
  capacity: number;
  inUse: number;
  holders: PoolHolder[];
}

export interface WhoAmI {
  principal: string;
  role: "viewer" | "user" | "operator" | "admin";
}

export interface TokenInfo {
  id: string;
  name: string;
  principal: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** When the token stops working; null: never. */
  expiresAt: string | null;
}

export interface CreateTokenRequest {
  name: string;
  role: Role;
  /** Who the token acts as; default its name. */
  principal?: string | undefined;
  /** Lifetime from now, in seconds; absent: the token never expires. */
  expiresInSeconds?: number | undefined;
}

/** The created token; `token` is the secret, shown this once. */
export interface CreatedToken extends TokenInfo {
  token: string;
}

/** `POST /sign-in-codes` (admin): a one-time code that signs a browser in to the web UI. */
export interface SignInCodeRequest {
  /** The session's role; default the caller's. */
  role?: Role | undefined;
  /** Who the session acts as; default the caller's principal. */
  principal?: string | undefined;
}

export interface SignInCode {
  code: string;
  expiresAt: string;
  role: Role;
  principal: string;
  /** `/#sign-in=<code>`: append to the server's URL. */
  path: string;
}

export interface TokenList {
  items: TokenInfo[];
}

/** One node of `GET /jobs/{id}/tree`: a job and its children (DESIGN §7). */
export interface JobTreeNode {
  job: Job;
  children: JobTreeNode[];
}

export interface JobTreeResponse {
  tree: JobTreeNode;
  /** Jobs in the tree, the root included. */
  count: number;
  /** The tree has more jobs than the answer holds (at most 1000). */
  truncated: boolean;
}
