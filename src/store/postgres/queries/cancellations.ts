/**
 * Cancellation records. The whole record is one `json` document; the columns beside it are
 * what the filters and the recovery read.
 */
import type { CancellationRecord } from "../../../core/model.ts";
import type { CancellationFilter } from "../../store.ts";
import { firstRow, named, query, rows, statement } from "../db.ts";
import type { Db, Statement } from "../db.ts";
import { rowToCancellation } from "../rows.ts";

/**
 * $1 id, $2 job_id, $3 task_key, $4 scope, $5 parent_id, $6 status, $7 idempotency_key,
 * $8 requested_at, $9 record. Inserts a record or replaces its status and document.
 */
const upsertCancellationQuery = named(
  "upsert_cancellation",
  `INSERT INTO cancellations (id, job_id, task_key, scope, parent_id, status, idempotency_key, requested_at, record)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
);

export async function upsertCancellation(db: Db, record: CancellationRecord): Promise<void> {
  const write = upsertCancellationStatement(record);
  await query(db, write.q, write.values);
}

/**
 * `upsertCancellation` for many records in one statement: one element per record in $1…$9,
 * as arrays, numbered (`seq`) in array order. The ids must be distinct (ON CONFLICT cannot
 * change one row twice).
 */
const upsertCancellationsQuery = named(
  "upsert_cancellations",
  `INSERT INTO cancellations (id, job_id, task_key, scope, parent_id, status, idempotency_key, requested_at, record)
   SELECT u.id, u.job_id, u.task_key, u.scope, u.parent_id, u.status, u.idempotency_key, u.requested_at, u.record
   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::json[])
     WITH ORDINALITY AS u(id, job_id, task_key, scope, parent_id, status, idempotency_key, requested_at, record, n)
   ORDER BY u.n
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
);

export function upsertCancellationsStatement(records: CancellationRecord[]): Statement {
  return statement(upsertCancellationsQuery, [
    records.map((r) => r.id),
    records.map((r) => r.jobId),
    records.map((r) => r.taskKey),
    records.map((r) => r.scope),
    records.map((r) => r.parentId),
    records.map((r) => r.status),
    records.map((r) => r.idempotencyKey),
    records.map((r) => r.requestedAt),
    records.map((r) => JSON.stringify(r)),
  ]);
}

export function upsertCancellationStatement(record: CancellationRecord): Statement {
  return statement(upsertCancellationQuery, [
    record.id,
    record.jobId,
    record.taskKey,
    record.scope,
    record.parentId,
    record.status,
    record.idempotencyKey,
    record.requestedAt,
    JSON.stringify(record),
  ]);
}

/** $1 id. */
const getCancellationQuery = named("get_cancellation", "SELECT record FROM cancellations WHERE id = $1");

export async function getCancellation(db: Db, id: string): Promise<CancellationRecord | null> {
  const row = await firstRow(db, getCancellationQuery, [id]);
  return row === undefined ? null : rowToCancellation(row);
}

/** $1 idempotency key. */
const cancellationByKeyQuery = named("cancellation_by_idempotency_key", "SELECT record FROM cancellations WHERE idempotency_key = $1");

export async function getCancellationByIdempotencyKey(db: Db, key: string): Promise<CancellationRecord | null> {
  const row = await firstRow(db, cancellationByKeyQuery, [key]);
  return row === undefined ? null : rowToCancellation(row);
}

/** Records matching `filter`, newest first, and how many match: one statement, one snapshot. */
export async function listCancellations(
  db: Db,
  filter: CancellationFilter,
  page: { limit: number; offset: number },
): Promise<{ items: CancellationRecord[]; total: number }> {
  const params: unknown[] = [];
  const where: string[] = [];
  for (const [column, value] of [["job_id", filter.jobId], ["status", filter.status], ["parent_id", filter.parentId]] as const) {
    if (value === undefined) continue;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  }
  const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  params.push(page.limit, page.offset);
  const row = await firstRow(
    db,
    `SELECT (SELECT count(*) FROM cancellations ${clause}) AS total,
            (SELECT coalesce(json_agg(p.record ORDER BY p.seq DESC), '[]'::json)
               FROM (SELECT seq, record FROM cancellations ${clause} ORDER BY seq DESC LIMIT $${params.length - 1} OFFSET $${params.length}) p) AS items`,
    params,
  );
  return { items: (row?.["items"] as CancellationRecord[] | undefined) ?? [], total: Number(row?.["total"] ?? 0) };
}

const openCancellationsQuery = named("open_cancellations", "SELECT record FROM cancellations WHERE status = 'in_progress' ORDER BY seq");

export async function openCancellations(db: Db): Promise<CancellationRecord[]> {
  return (await rows(db, openCancellationsQuery)).map(rowToCancellation);
}
