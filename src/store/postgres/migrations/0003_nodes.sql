-- 0003: the nodes (engines) sharing the store, with the lease each renews by heartbeat, so a
-- dead node's tasks can be found and recovered; and an index to find a node's active tasks.

CREATE TABLE nodes (
  id text PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  pid_start_time text,
  role text NOT NULL,
  started_at timestamptz NOT NULL,
  heartbeat_ms bigint NOT NULL,
  lease_ms bigint NOT NULL,
  stopped_at timestamptz,
  dead_at timestamptz
);
CREATE INDEX nodes_live ON nodes (heartbeat_ms) WHERE stopped_at IS NULL AND dead_at IS NULL;

CREATE INDEX tasks_node_active ON tasks (node_id) WHERE status IN ('running', 'cancelling');
