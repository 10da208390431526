/** Nodes: the engines sharing the schema, each with a lease renewed by heartbeats. */
import type { NodeRecord } from "../../store.ts";
import { named, query, rows } from "../db.ts";
import type { Db } from "../db.ts";
import { rowToNode } from "../rows.ts";

/** $1…$8: id, hostname, pid, pid_start_time, role, started_at, heartbeat_ms, lease_ms. A known id comes back to life. */
const registerQuery = named(
  "register_node",
  `INSERT INTO nodes (id, hostname, pid, pid_start_time, role, started_at, heartbeat_ms, lease_ms)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
   ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, lease_ms = excluded.lease_ms, stopped_at = NULL, dead_at = NULL`,
);

export async function registerNode(db: Db, n: NodeRecord): Promise<void> {
  await query(db, registerQuery, [n.id, n.hostname, n.pid, n.pidStartTime, n.role, n.startedAt, n.heartbeatMs, n.leaseMs]);
}

/** $1 now (epoch ms), $2 node id. */
const heartbeatQuery = named("heartbeat", "UPDATE nodes SET heartbeat_ms = $1 WHERE id = $2 AND dead_at IS NULL");

export async function heartbeat(db: Db, nodeId: string, nowMs: number): Promise<boolean> {
  return ((await query(db, heartbeatQuery, [nowMs, nodeId])).rowCount ?? 0) > 0;
}

const listQuery = named("list_nodes", "SELECT * FROM nodes ORDER BY started_at");

export async function listNodes(db: Db): Promise<NodeRecord[]> {
  return (await rows(db, listQuery)).map(rowToNode);
}

/** $1 now (epoch ms). */
const expiredQuery = named("expired_nodes", "SELECT * FROM nodes WHERE stopped_at IS NULL AND dead_at IS NULL AND heartbeat_ms + lease_ms < $1");

export async function expiredNodes(db: Db, nowMs: number): Promise<NodeRecord[]> {
  return (await rows(db, expiredQuery, [nowMs])).map(rowToNode);
}

/** $1 at, $2 node id. The row update decides which of several reaping nodes recovers the dead one. */
const markDeadQuery = named("mark_node_dead", "UPDATE nodes SET dead_at = $1 WHERE id = $2 AND dead_at IS NULL AND stopped_at IS NULL");

export async function markNodeDead(db: Db, nodeId: string, at: string): Promise<boolean> {
  return ((await query(db, markDeadQuery, [at, nodeId])).rowCount ?? 0) > 0;
}

/** $1 at, $2 node id. */
const markStoppedQuery = named("mark_node_stopped", "UPDATE nodes SET stopped_at = $1 WHERE id = $2 AND dead_at IS NULL");

export async function markNodeStopped(db: Db, nodeId: string, at: string): Promise<void> {
  await query(db, markStoppedQuery, [at, nodeId]);
}
