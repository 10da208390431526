/** Webhooks and their deliveries. */
import type { BelayEvent } from "../../../core/model.ts";
import type { WebhookDelivery, WebhookRecord } from "../../store.ts";
import { named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";
import { rowToDelivery, rowToWebhook } from "../rows.ts";

/** $1 id, $2 url, $3 event types, $4 secret, $5 created_by, $6 created_at. */
const insertWebhookQuery = named(
  "insert_webhook",
  "INSERT INTO webhooks (id, url, event_types, secret, created_by, created_at) VALUES ($1, $2, $3::text[], $4, $5, $6)",
);

export async function insertWebhook(db: Db, hook: WebhookRecord): Promise<void> {
  await query(db, insertWebhookQuery, [hook.id, hook.url, hook.eventTypes, hook.secret, hook.createdBy, hook.createdAt]);
}

const listWebhooksQuery = named(
  "list_webhooks",
  "SELECT id, url, event_types, secret, created_by, created_at FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id",
);

export async function listWebhooks(db: Db): Promise<WebhookRecord[]> {
  return (await rows(db, listWebhooksQuery)).map(rowToWebhook);
}

/** $1 id, $2 time. */
const deleteWebhookQuery = named("delete_webhook", "UPDATE webhooks SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL");

export async function deleteWebhook(db: Db, id: string, at: string): Promise<boolean> {
  return ((await query(db, deleteWebhookQuery, [id, at])).rowCount ?? 0) > 0;
}

/** $1 webhook id, $2 event seq, $3 event, $4 first attempt (epoch ms), $5 created_at. A delivery already queued is left as it is. */
const enqueueDeliveryQuery = named(
  "enqueue_delivery",
  `INSERT INTO webhook_deliveries (webhook_id, event_seq, event, status, attempts, next_attempt_ms, created_at)
   VALUES ($1, $2, $3, 'pending', 0, $4, $5) ON CONFLICT (webhook_id, event_seq) DO NOTHING`,
);

export async function enqueueDelivery(db: Db, webhookId: string, event: BelayEvent, nowMs: number, now: string): Promise<void> {
  await query(db, enqueueDeliveryQuery, [webhookId, event.seq, JSON.stringify(event), nowMs, now]);
}

const deliveryColumns =
  "seq, webhook_id, event_seq, event, status, attempts, next_attempt_ms, last_status_code, last_error, created_at, delivered_at";

/**
 * $1 now in epoch ms, $2 limit, $3 lease in ms. SKIP LOCKED: two servers claiming at once
 * take different rows; the claimed rows' next attempt moves past the lease, so no other
 * server sends them meanwhile. Each row comes back with the due time it had.
 */
const claimDueDeliveriesQuery = named(
  "claim_due_deliveries",
  `WITH due AS (
     SELECT seq, next_attempt_ms AS due_ms FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_ms <= $1
     ORDER BY next_attempt_ms, seq LIMIT $2
     FOR UPDATE SKIP LOCKED
   )
   UPDATE webhook_deliveries d SET next_attempt_ms = $1 + $3 FROM due WHERE d.seq = due.seq
   RETURNING d.seq, d.webhook_id, d.event_seq, d.event, d.status, d.attempts, due.due_ms AS next_attempt_ms,
     d.last_status_code, d.last_error, d.created_at, d.delivered_at`,
);

export async function claimDueDeliveries(db: Db, nowMs: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]> {
  const claimed = (await rows(db, claimDueDeliveriesQuery, [nowMs, limit, leaseMs])).map(rowToDelivery);
  return claimed.sort((a, b) => (a.nextAttemptMs ?? 0) - (b.nextAttemptMs ?? 0) || a.seq - b.seq);
}

/** $1 seq, $2 status, $3 attempts, $4 next_attempt_ms, $5 last_status_code, $6 last_error, $7 delivered_at. */
const updateDeliveryQuery = named(
  "update_delivery",
  `UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_ms = $4, last_status_code = $5, last_error = $6, delivered_at = $7
   WHERE seq = $1`,
);

export async function updateDelivery(db: Db, d: WebhookDelivery): Promise<void> {
  await query(db, updateDeliveryQuery, [d.seq, d.status, d.attempts, d.nextAttemptMs, d.lastStatusCode, d.lastError, d.deliveredAt]);
}

/** $1 webhook id, $2 limit. */
const listDeliveriesQuery = named(
  "list_deliveries",
  `SELECT ${deliveryColumns} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2`,
);

export async function listDeliveries(db: Db, webhookId: string, limit: number): Promise<WebhookDelivery[]> {
  return (await rows(db, listDeliveriesQuery, [webhookId, limit])).map(rowToDelivery);
}
