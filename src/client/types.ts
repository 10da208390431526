/**
 * Request and response bodies of the HTTP API (DESIGN §5), as the client sends and receives
 * them. The model types (Job, CancellationRecord, BelayEvent, …) are those of src/core.
 */
import type { BelayEvent, CancellationRecord, CancellationStatus, Job, LogLine } from "../core/model.ts";
import type { JobSpecInput } from "../core/spec.ts";
import type { JobStatus } from "../core/states.ts";

export type { JobSpecInput };

export type Role = "viewer" | "user" | "operator" | "admin";

/** POST /jobs/batch: one result per spec, in the specs' order. */
export interface BatchSubmitResponse {
  jobs: Array<{ job: Job; created: boolean }>;
}

export interface JobResponse {
  job: Job;
}

export interface JobPage {
  items: Job[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export interface ListJobsQuery {
  /** One status or several (sent comma-separated). */
  status?: JobStatus | JobStatus[] | undefined;
  queue?: string | undefined;
  /** Every label must match. */
  labels?: Record<string, string> | undefined;
  owner?: string | undefined;
  /** 1..1000, default 50. */
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface EventPage {
  items: BelayEvent[];
  nextCursor: string | null;
}

export interface LogsQuery {
  /** Only this task's lines. */
  task?: string | undefined;
  /** The last N lines. */
  tail?: number | undefined;
  /** Lines after this log seq (to follow). */
  after?: number | undefined;
}

export interface LogPage {
  items: LogLine[];
}

export interface CancelJobRequest {
  /** Why; kept in the record. At most 1000 characters. */
  reason?: string | undefined;
  /** Skip the grace period. */
  force?: boolean | undefined;
  /** Grace period override, in ms. */
  graceMs?: number | undefined;
  /** Refuse with JOB_NOT_PENDING if the job has started. */
  onlyIfPending?: boolean | undefined;
  /** Hold the response until the cancellation ends or `waitMs` elapses. */
  wait?: boolean | undefined;
  /** Upper bound of `wait`, in ms (server default 60 000). */
  waitMs?: number | undefined;
}

export interface CancelTaskRequest extends Omit<CancelJobRequest, "onlyIfPending"> {
  /** Cancel the transitive dependents too; unset: each edge's own `onCancel` policy. */
  cascade?: boolean | undefined;
}

export interface CancelResponse {
  job: Job;
  cancellation: CancellationRecord;
  alreadyCancelled?: boolean | undefined;
}

export interface BulkCancelFilter {
  ids?: string[] | undefined;
  status?: JobStatus | JobStatus[] | undefined;
  queue?: string | undefined;
  labels?: Record<string, string> | undefined;
  owner?: string | undefined;
  /** ISO time. */
  createdBefore?: string | undefined;
}

export interface BulkCancelRequest {
  filter: BulkCancelFilter;
  /** Count and sample the matching jobs; cancel nothing. */
  dryRun?: boolean | undefined;
  idempotencyKey?: string | undefined;
  reason?: string | undefined;
  force?: boolean | undefined;
  graceMs?: number | undefined;
  /** Ids in a dry run's sample, default 10. */
  sampleSize?: number | undefined;
}

export interface BulkCancelResponse {
  matched: number;
  cancelled: number;
  /** Dry run: ids of some matching jobs. */
  sample?: string[] | undefined;
  /** The bulk record; null for a dry run. */
  cancellation: CancellationRecord | null;
}

export interface CancellationResponse {
  cancellation: CancellationRecord;
}

export interface CancellationsQuery {
  jobId?: string | undefined;
  status?: CancellationStatus | undefined;
  /** 1..1000, default 50. */
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface CancellationPage {
  items: CancellationRecord[];
  total: number;
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

export interface TokenList {
  items: TokenInfo[];
}
