/**
 * Mapping between PostgreSQL rows and the model. Values arrive as pg decodes them: `json`
 * columns already parsed, timestamptz as Date, bigint as string — or, for rows a query
 * aggregates with `json_agg`, as JSON (times as ISO strings with an offset, bigints as
 * numbers). Every mapper here accepts both.
 */
import { toBelayEvent } from "../../core/events.ts";
import type { AncestorRow } from "../../core/children.ts";
import type { BelayEvent, CancellationRecord, ChildRef, EventType, Job, Json, LogLine, Task, TaskSpec } from "../../core/model.ts";
import type { JobStatus, TaskStatus } from "../../core/states.ts";
import type { ActiveTask, NodeRecord, Role, RunnerRecord, TokenRecord, WebhookDelivery, WebhookRecord } from "../store.ts";
import type { Row } from "./db.ts";

const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const jsonOrNull = <T>(v: unknown): T | null => (v === null || v === undefined ? null : (v as T));

/** A stored time as Belay writes them: ISO-8601, UTC, milliseconds. */
export function iso(v: unknown): string {
  return (v instanceof Date ? v : new Date(v as string)).toISOString();
}

export function isoOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : iso(v);
}

/** A JSON value as a `json` parameter: SQL NULL for null (as SQLite stores it). */
export function jsonParam(value: Json | undefined): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function rowToTask(row: Row): Task {
  const spec = row["spec"] as TaskSpec;
  return {
    key: str(row["key"]),
    kind: spec.kind,
    spec,
    dependsOn: spec.dependsOn,
    runOn: spec.runOn,
    status: str(row["status"]) as TaskStatus,
    attempt: num(row["attempt"]),
    retries: spec.retries,
    retriesUsed: num(row["retries_used"]),
    exitCode: numOrNull(row["exit_code"]),
    error: strOrNull(row["error"]),
    output: jsonOrNull<Json>(row["output"]),
    progress: jsonOrNull(row["progress"]),
    checkpoint: jsonOrNull<Json>(row["checkpoint"]),
    startedAt: isoOrNull(row["started_at"]),
    finishedAt: isoOrNull(row["finished_at"]),
    nodeId: strOrNull(row["node_id"]),
    ready: row["ready"] === true,
  };
}

export function rowToJob(row: Row, tasks: Task[]): Job {
  return {
    id: str(row["id"]),
    name: str(row["name"]),
    queue: str(row["queue"]),
    priority: num(row["priority"]),
    labels: row["labels"] as Record<string, string>,
    owner: str(row["owner"]),
    params: row["params"] as Json,
    tasks,
    status: str(row["status"]) as JobStatus,
    progress: row["progress"] as Job["progress"],
    timeoutMs: numOrNull(row["timeout_ms"]),
    queueTimeoutMs: numOrNull(row["queue_timeout_ms"]),
    graceMs: num(row["grace_ms"]),
    failFast: row["fail_fast"] === true,
    attempt: num(row["attempt"]),
    idempotencyKey: strOrNull(row["idempotency_key"]),
    scheduleId: strOrNull(row["schedule_id"]),
    createdAt: iso(row["created_at"]),
    startedAt: isoOrNull(row["started_at"]),
    finishedAt: isoOrNull(row["finished_at"]),
    cancellation: jsonOrNull(row["cancellation"]),
    parentJobId: strOrNull(row["parent_job_id"] ?? null),
    parentTaskKey: strOrNull(row["parent_task_key"] ?? null),
    onParentCancel: row["on_parent_cancel"] === "detach" ? "detach" : "cancel",
    depth: row["depth"] === undefined || row["depth"] === null ? 0 : num(row["depth"]),
    submitterRole: strOrNull(row["submitter_role"] ?? null),
  };
}

/** A job row that carries its tasks as a `json_agg` column named `tasks`. */
export function rowToJobWithTasks(row: Row): Job {
  return rowToJob(row, (row["tasks"] as Row[]).map(rowToTask));
}

export function rowToEvent(row: Row): BelayEvent {
  return toBelayEvent(num(row["seq"]), {
    type: str(row["type"]) as EventType,
    jobId: str(row["job_id"]),
    taskKey: strOrNull(row["task_key"]),
    time: iso(row["time"]),
    data: row["data"] as Record<string, Json>,
  });
}

export function rowToCancellation(row: Row): CancellationRecord {
  return row["record"] as CancellationRecord;
}

export function rowToRunner(row: Row): RunnerRecord {
  return {
    jobId: str(row["job_id"]),
    taskKey: str(row["task_key"]),
    attempt: num(row["attempt"]),
    kind: str(row["kind"]),
    nodeId: str(row["node_id"]),
    pid: numOrNull(row["pid"]),
    pidStartTime: strOrNull(row["pid_start_time"]),
    remoteId: strOrNull(row["remote_id"]),
    workDir: strOrNull(row["work_dir"]),
    startedAt: iso(row["started_at"]),
    endedAt: isoOrNull(row["ended_at"]),
    exitCode: numOrNull(row["exit_code"]),
    outcome: strOrNull(row["outcome"]),
  };
}

export function rowToNode(row: Row): NodeRecord {
  return {
    id: str(row["id"]),
    hostname: str(row["hostname"]),
    pid: num(row["pid"]),
    pidStartTime: strOrNull(row["pid_start_time"]),
    role: str(row["role"]),
    startedAt: iso(row["started_at"]),
    heartbeatMs: num(row["heartbeat_ms"]),
    leaseMs: num(row["lease_ms"]),
    stoppedAt: isoOrNull(row["stopped_at"]),
    deadAt: isoOrNull(row["dead_at"]),
  };
}

export function rowToActiveTask(row: Row): ActiveTask {
  return {
    jobId: str(row["job_id"]),
    taskKey: str(row["key"]),
    attempt: num(row["attempt"]),
    status: str(row["status"]) as ActiveTask["status"],
    nodeId: strOrNull(row["node_id"]),
  };
}

export function rowToLog(row: Row): LogLine {
  return {
    seq: num(row["seq"]),
    jobId: str(row["job_id"]),
    taskKey: str(row["task_key"]),
    attempt: num(row["attempt"]),
    stream: str(row["stream"]) as LogLine["stream"],
    line: str(row["line"]),
    time: iso(row["time"]),
  };
}

export function rowToToken(row: Row): TokenRecord {
  return {
    id: str(row["id"]),
    name: str(row["name"]),
    principal: str(row["principal"]),
    role: str(row["role"]) as Role,
    createdAt: iso(row["created_at"]),
    lastUsedAt: isoOrNull(row["last_used_at"]),
    revokedAt: isoOrNull(row["revoked_at"]),
    expiresAt: isoOrNull(row["expires_at"]),
  };
}

export function rowToWebhook(row: Row): WebhookRecord {
  return {
    id: str(row["id"]),
    url: str(row["url"]),
    eventTypes: row["event_types"] as string[],
    secret: str(row["secret"]),
    createdBy: str(row["created_by"]),
    createdAt: iso(row["created_at"]),
  };
}

export function rowToDelivery(row: Row): WebhookDelivery {
  return {
    seq: num(row["seq"]),
    webhookId: str(row["webhook_id"]),
    eventSeq: num(row["event_seq"]),
    event: row["event"] as BelayEvent,
    status: str(row["status"]) as WebhookDelivery["status"],
    attempts: num(row["attempts"]),
    nextAttemptMs: numOrNull(row["next_attempt_ms"]),
    lastStatusCode: numOrNull(row["last_status_code"]),
    lastError: strOrNull(row["last_error"]),
    createdAt: iso(row["created_at"]),
    deliveredAt: isoOrNull(row["delivered_at"]),
  };
}

/** A row of `id, status, on_parent_cancel, parent_job_id, depth`: one ancestor of a new child. */
export function rowToAncestor(row: Row): AncestorRow {
  return {
    id: str(row["id"]),
    status: str(row["status"]) as JobStatus,
    onParentCancel: row["on_parent_cancel"] === "detach" ? "detach" : "cancel",
    parentJobId: strOrNull(row["parent_job_id"]),
    depth: num(row["depth"]),
  };
}

/** A row of `id, status, on_parent_cancel, parent_task_key`: one child of a job. */
export function rowToChildRef(row: Row): ChildRef {
  return {
    id: str(row["id"]),
    status: str(row["status"]) as JobStatus,
    onParentCancel: row["on_parent_cancel"] === "detach" ? "detach" : "cancel",
    parentTaskKey: strOrNull(row["parent_task_key"]),
  };
}
