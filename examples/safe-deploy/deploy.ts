/**
 * examples/safe-deploy: stopping work safely around a deploy, with three parts of DESIGN §7.
 *
 * 1. Preview: before stopping a running ingest, ask what the cancel would do (`dryRun`).
 *    Nothing changes.
 * 2. Stall watchdog: a task that waits on something that never answers, and reports no
 *    progress, checkpoint or log line for `stallTimeoutMs`, is cancelled by the system with
 *    the reason `stalled` (a task cancel, so its job ends `partial`).
 * 3. Drain: the node is drained as a deploy would do it (SIGTERM to `belay serve` does the
 *    same). The ingest cannot finish within the drain timeout, so it is handed back to the
 *    queue without using a retry. The next node to start (here, the same home opened again)
 *    runs it on from its last checkpoint.
 *
 * Run it: `node_modules/.bin/node examples/safe-deploy/deploy.ts` (a throwaway home under
 * the system's temporary directory). In your own project, import from "belay-jobs".
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openBelay } from "../../src/index.ts";
import type { Belay, CancellationRecord, DrainReport, Job } from "../../src/index.ts";

const handlers = fileURLToPath(new URL("./handlers.ts", import.meta.url));

export interface SafeDeployResult {
  preview: { runners: number; statusBefore: string; statusAfterPreview: string };
  stalled: { job: Job; record: CancellationRecord };
  drain: DrainReport;
  ingest: Job;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runSafeDeploy(options: { home?: string; log?: (line: string) => void } = {}): Promise<SafeDeployResult> {
  const log = options.log ?? console.log;
  const home = options.home ?? mkdtempSync(join(tmpdir(), "belay-safe-deploy-"));
  let node: Belay = await openBelay({ home, handlers });
  try {
    const ingest = await node.submitJob({ name: "ingest", tasks: [{ key: "load", handler: "ingest", input: { batches: 40, ms: 100 } }] });
    const stuck = await node.submitJob({ name: "stuck", stallTimeoutMs: 1_500, tasks: [{ key: "wait", handler: "waitForever" }] });
    await until(() => node.getJob(ingest.id), (j) => (j.tasks[0]?.progress?.ratio ?? 0) >= 0.1);

    // 1. Preview the stop of the ingest: what would be stopped, and how. Nothing changes.
    const { preview } = await node.cancelJob(ingest.id, { dryRun: true, reason: "would stop the ingest" });
    const after = await node.getJob(ingest.id);
    log(`preview: the cancel would stop ${preview.runners.length} runner(s) (${preview.runners.map((r) => `${r.key}: ${r.stop}`).join(", ")}); the job is still ${after.status}`);

    // 2. The stall watchdog cancels the silent task (a task cancel: the job ends partial).
    const stalledJob = await until(() => node.getJob(stuck.id), (j) => j.tasks[0]?.status === "cancelled" && j.finishedAt !== null);
    const stalledRecord = (await node.listCancellations({ jobId: stuck.id })).items[0]!;
    log(`watchdog: task "wait" ${stalledJob.tasks[0]?.status} (job ${stalledJob.status}), reason ${stalledRecord.reason}, requested by ${stalledRecord.requestedBy}`);

    // 3. Drain for the deploy: 300 ms is not enough for the ingest, so it is handed back.
    const report = await node.drain({ timeoutMs: 300 });
    log(`drain: ${report.running} running, ${report.finished} finished in time, ${report.handedBack} handed back to the queue`);
    await node.close();

    // The next node (the same home, as after a restart) runs the ingest on from its checkpoint.
    node = await openBelay({ home, handlers });
    const done = await until(() => node.getJob(ingest.id), (j) => j.status === "succeeded", 60_000);
    const output = done.tasks[0]?.output as { batches: number; resumedFrom: number };
    log(`after the deploy: ingest ${done.status}, resumed from batch ${output.resumedFrom} of ${output.batches}, attempt ${done.tasks[0]?.attempt}, retries used ${done.tasks[0]?.retriesUsed}`);
    return {
      preview: { runners: preview.runners.length, statusBefore: preview.jobStatus.from, statusAfterPreview: after.status },
      stalled: { job: stalledJob, record: stalledRecord },
      drain: report,
      ingest: done,
    };
  } finally {
    await node.close().catch(() => undefined);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runSafeDeploy();
