-- 0006: child jobs and cancel trees (DESIGN §7). A child keeps its parent (job and task) and
-- what its parent's cancel does to it; depth bounds a tree; submitter_role is the role of the
-- principal that submitted the tree's root, so a child is checked against the policy as the
-- same principal (DESIGN §6). A child's insert locks its ancestors' rows (FOR SHARE, in id
-- order, like every job lock) and reads their status in its transaction: a cancel holds the
-- row FOR UPDATE, so the insert either commits before the cancel or sees it (JOB_CANCELLING).

ALTER TABLE jobs ADD COLUMN parent_job_id text;
ALTER TABLE jobs ADD COLUMN parent_task_key text;
ALTER TABLE jobs ADD COLUMN on_parent_cancel text NOT NULL DEFAULT 'cancel';
ALTER TABLE jobs ADD COLUMN depth integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN submitter_role text;
CREATE INDEX jobs_parent ON jobs (parent_job_id, seq) WHERE parent_job_id IS NOT NULL;
