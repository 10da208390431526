/** Mapping between SQLite rows and the model. JSON columns are parsed here and nowhere else. */
import { toBelayEvent } from "../../core/events.ts";
import type { AncestorRow } from "../../core/children.ts";
import type { BelayEvent, CancellationRecord, ChildRef, EventType, Job, Json, LogLine, Task, TaskSpec } from "../../core/model.ts";
import type { JobStatus, TaskStatus } from "../../core/states.ts";
import type { ActiveTask, NodeRecord, RunnerRecord } from "../store.ts";

export type Row = Record<string, unknown>;

const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
function json<T>(v: unknown): T {
  return JSON.parse(v as string) as T;
}
function jsonOrNull<T>(v: unknown): T | null {
  return v === null || v === undefined ? null : (JSON.parse(v as string) as T);
}

export function rowToTask(row: Row): Task {
  const spec = json<TaskSpec>(row["spec"]);
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
    startedAt: strOrNull(row["started_at"]),
    finishedAt: strOrNull(row["finished_at"]),
    nodeId: strOrNull(row["node_id"]),
    ready: num(row["ready"]) === 1,
  };
}

export function rowToJob(row: Row, tasks: Task[]): Job {
  return {
    id: str(row["id"]),
    name: str(row["name"]),
    queue: str(row["queue"]),
    priority: num(row["priority"]),
    labels: json(row["labels"]),
    owner: str(row["owner"]),
    params: json<Json>(row["params"]),
    tasks,
    status: str(row["status"]) as JobStatus,
    progress: json(row["progress"]),
    timeoutMs: numOrNull(row["timeout_ms"]),
    queueTimeoutMs: numOrNull(row["queue_timeout_ms"]),
    graceMs: num(row["grace_ms"]),
    failFast: num(row["fail_fast"]) === 1,
    attempt: num(row["attempt"]),
    idempotencyKey: strOrNull(row["idempotency_key"]),
    scheduleId: strOrNull(row["schedule_id"]),
    createdAt: str(row["created_at"]),
    startedAt: strOrNull(row["started_at"]),
    finishedAt: strOrNull(row["finished_at"]),
    cancellation: jsonOrNull(row["cancellation"]),
    parentJobId: strOrNull(row["parent_job_id"] ?? null),
    parentTaskKey: strOrNull(row["parent_task_key"] ?? null),
    onParentCancel: row["on_parent_cancel"] === "detach" ? "detach" : "cancel",
    depth: row["depth"] === undefined || row["depth"] === null ? 0 : num(row["depth"]),
    submitterRole: strOrNull(row["submitter_role"] ?? null),
  };
}

export function jsonText(value: Json | undefined): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function rowToEvent(row: Row): BelayEvent {
  return toBelayEvent(num(row["seq"]), {
    type: str(row["type"]) as EventType,
    jobId: str(row["job_id"]),
    taskKey: strOrNull(row["task_key"]),
    time: str(row["time"]),
    data: json<Record<string, Json>>(row["data"]),
  });
}

export function rowToCancellation(row: Row): CancellationRecord {
  return json<CancellationRecord>(row["record"]);
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
    startedAt: str(row["started_at"]),
    endedAt: strOrNull(row["ended_at"]),
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
    startedAt: str(row["started_at"]),
    heartbeatMs: num(row["heartbeat_ms"]),
    leaseMs: num(row["lease_ms"]),
    stoppedAt: strOrNull(row["stopped_at"]),
    deadAt: strOrNull(row["dead_at"]),
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
    time: str(row["time"]),
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
