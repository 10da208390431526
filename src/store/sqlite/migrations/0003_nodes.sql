-- 0003: the nodes (engines) sharing the store, with the lease each renews by heartbeat, so a
-- dead node's tasks can be found and recovered; and an index to find a node's active tasks.

CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start_time TEXT,
  role TEXT NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL,
  stopped_at TEXT,
  dead_at TEXT
) WITHOUT ROWID;
CREATE INDEX nodes_live ON nodes (heartbeat_ms) WHERE stopped_at IS NULL AND dead_at IS NULL;

CREATE INDEX tasks_node_active ON tasks (node_id) WHERE status IN ('running', 'cancelling');
