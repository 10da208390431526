/**
 * Checkpoints the WAL from a worker thread with its own connection. SQLite's automatic
 * checkpoint runs inside whichever COMMIT crosses the threshold, fsyncs included, which
 * made one cancel in a hundred take ~7 ms instead of ~0.3 ms (docs/benchmarks.md). With
 * the automatic checkpoint off on the main connection, this thread copies the WAL back
 * into the database every `intervalMs` (PASSIVE: it never blocks writers or readers).
 * Durability is unchanged: in `normal` mode the WAL is synced at checkpoints, as before.
 */
import { Worker } from "node:worker_threads";

const source = `
const { parentPort, workerData } = require("node:worker_threads");
const { DatabaseSync } = require("node:sqlite");
const db = new DatabaseSync(workerData.path);
db.exec("PRAGMA busy_timeout = 5000");
const checkpoint = () => { try { db.exec("PRAGMA wal_checkpoint(PASSIVE)"); } catch {} };
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message !== "close") return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, intervalMs = 500) {
    this.worker = new Worker(source, { eval: true, workerData: { path, intervalMs } });
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    // A failing checkpointer must not take the process down; the main connection's next
    // open (or a manual checkpoint) still brings the WAL back.
    this.worker.on("error", () => undefined);
  }

  /** One last checkpoint, then stop. */
  async close(): Promise<void> {
    // Ref'd while closing: an unref'd worker and timer would let the process exit mid-await.
    this.worker.ref();
    this.worker.postMessage("close");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}
