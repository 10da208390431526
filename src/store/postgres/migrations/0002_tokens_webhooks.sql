-- 0002: API tokens (stored only as a hash) and webhooks with their delivery attempts.
-- Types as in 0001; a webhook's event types are a text[].

CREATE TABLE tokens (
  id text PRIMARY KEY,
  name text NOT NULL,
  principal text NOT NULL,
  role text NOT NULL,
  hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at timestamptz
);

CREATE TABLE webhooks (
  id text PRIMARY KEY,
  url text NOT NULL,
  event_types text[] NOT NULL,
  secret text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz
);

CREATE TABLE webhook_deliveries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id text NOT NULL,
  event_seq bigint NOT NULL,
  event json NOT NULL,
  status text NOT NULL,
  attempts integer NOT NULL,
  next_attempt_ms bigint,
  last_status_code integer,
  last_error text,
  created_at timestamptz NOT NULL,
  delivered_at timestamptz,
  UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, seq);
