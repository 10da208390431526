-- 0004: a token may expire. NULL: it never does (every token created before this migration).

ALTER TABLE tokens ADD COLUMN expires_at TEXT;
