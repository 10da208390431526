-- 0006: child jobs and cancel trees (DESIGN §7). A child keeps its parent (job and task) and
-- what its parent's cancel does to it; depth bounds a tree; submitter_role is the role of the
-- principal that submitted the tree's root, so a child is checked against the policy as the
-- same principal (DESIGN §6). A child's insert reads its ancestors' status in its transaction
-- (JOB_CANCELLING), so no child is created under a tree whose cancel was accepted.

ALTER TABLE jobs ADD COLUMN parent_job_id TEXT;
ALTER TABLE jobs ADD COLUMN parent_task_key TEXT;
ALTER TABLE jobs ADD COLUMN on_parent_cancel TEXT NOT NULL DEFAULT 'cancel';
ALTER TABLE jobs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN submitter_role TEXT;
CREATE INDEX jobs_parent ON jobs (parent_job_id, seq) WHERE parent_job_id IS NOT NULL;
