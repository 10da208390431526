/**
 * Where tasks work on disk: `$BELAY_HOME/work/<jobId>/<taskKey>.<attempt>` (scratch, removed
 * when the attempt ends and again by a cancellation's cleanup) and
 * `$BELAY_HOME/artifacts/<jobId>/<taskKey>` (kept).
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface CleanupResult {
  ok: boolean;
  attempts: number;
  removed: string[];
  errors: string[];
}

export class Workspace {
  readonly root: string;

  constructor(home: string) {
    this.root = home;
  }

  workDir(jobId: string, taskKey: string, attempt: number): string {
    return join(this.root, "work", jobId, `${taskKey}.${attempt}`);
  }

  jobWorkDir(jobId: string): string {
    return join(this.root, "work", jobId);
  }

  artifactsDir(jobId: string, taskKey: string): string {
    return join(this.root, "artifacts", jobId, taskKey);
  }

  prepare(jobId: string, taskKey: string, attempt: number): { workDir: string; artifactsDir: string } {
    const workDir = this.workDir(jobId, taskKey, attempt);
    const artifactsDir = this.artifactsDir(jobId, taskKey);
    mkdirSync(workDir, { recursive: true });
    mkdirSync(artifactsDir, { recursive: true });
    return { workDir, artifactsDir };
  }

  /** Best effort removal of one attempt's scratch dir, when the attempt ends normally. */
  removeQuietly(dir: string): void {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // The cancellation cleanup (with retries) or the next cleanup gets it.
    }
  }

  /**
   * Remove directories, retrying with backoff (`delaysMs` between attempts). Artifacts are
   * never touched. A directory that still exists after the last attempt is an error.
   */
  async removeWithRetry(dirs: string[], delaysMs: readonly number[]): Promise<CleanupResult> {
    const errors: string[] = [];
    let pending = dirs.filter((d) => existsSync(d));
    const removed: string[] = [];
    let attempts = 0;
    for (let i = 0; pending.length > 0; i += 1) {
      attempts += 1;
      const failed: string[] = [];
      for (const dir of pending) {
        try {
          rmSync(dir, { recursive: true, force: true });
          removed.push(dir);
        } catch (error) {
          failed.push(dir);
          errors.push(`attempt ${attempts}: ${dir}: ${(error as Error).message}`);
        }
      }
      pending = failed;
      const delay = delaysMs[i];
      if (pending.length === 0 || delay === undefined) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    return { ok: pending.length === 0, attempts, removed, errors: pending.length === 0 ? [] : errors };
  }
}
