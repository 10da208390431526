/**
 * The README's "Use it as a library" program: a release graph (fetch → build → test, with a
 * compensation task that runs only if the job is cancelled), cancelled while its tests run.
 *
 * Run it: `node_modules/.bin/node examples/library/release.ts` (a throwaway home under the
 * system's temporary directory). In your own project, import from "belay-jobs" instead of
 * ../../src/index.ts.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openBelay } from "../../src/index.ts";
import type { CancellationRecord, Job } from "../../src/index.ts";

const handlers = fileURLToPath(new URL("./handlers.ts", import.meta.url));

export async function runRelease(options: { home?: string; log?: (line: string) => void } = {}): Promise<{ job: Job; cancellation: CancellationRecord; steps: string[] }> {
  const log = options.log ?? console.log;
  const home = options.home ?? mkdtempSync(join(tmpdir(), "belay-release-"));
  const belay = await openBelay({ home, handlers, concurrency: 10 });
  try {
    const job = await belay.submitJob({
      name: "release",
      graceMs: 5_000,
      tasks: [
        { key: "fetch", command: ["sh", "-c", "echo fetching; sleep 0.2; echo fetched"] },
        { key: "build", command: "echo building && sleep 0.2 && echo built", dependsOn: ["fetch"] },
        { key: "test", handler: "runTests", input: { suite: "full", seconds: 30 }, dependsOn: ["build"] },
        { key: "rollback", handler: "undoRelease", runOn: "cancel" },
      ],
    });

    const steps: string[] = [];
    belay.on("belay.cancellation.step", (event) => {
      steps.push(`${String(event.data["step"])} ${String(event.data["status"])}`);
      log(`${String(event.data["step"])} ${String(event.data["status"])}`);
    });

    // Cancel once the tests have reported progress: there is work in flight to stop.
    await new Promise<void>((resolve) => {
      const stop = belay.on("belay.task.progress", (event) => {
        if (event.data["taskKey"] === "test") {
          stop();
          resolve();
        }
      });
    });
    const { cancellation } = await belay.cancelJob(job.id, { reason: "wrong branch", wait: true });
    log(`${cancellation.status}: ${cancellation.runnersTerminated.graceful} runner(s) stopped gracefully, ${cancellation.runnersTerminated.forced} killed`);
    return { job: await belay.getJob(job.id), cancellation, steps };
  } finally {
    await belay.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runRelease();
