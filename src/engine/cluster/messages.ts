/**
 * What this node tells the others, and what it hears from them, through the store's
 * notifier (PostgreSQL LISTEN/NOTIFY). With a store one engine uses, there is nobody to tell:
 * every method is a no-op.
 *
 * Announcements of new events and new work are coalesced to one message per turn of the
 * event loop; cancels are sent at once. Nothing depends on a message arriving: each has a
 * polling fallback (the event feed, the scheduler's poll, the cancel agent's poll).
 */
import type { Logger } from "pino";
import type { NodeMessage, Notifier } from "../../store/store.ts";

export interface ClusterHandlers {
  onCancel: (message: Extract<NodeMessage, { type: "cancel" }>) => void;
  onEvents: () => void;
  onWork: () => void;
  /** The listening connection was lost and is back: messages may have been missed. */
  onReconnect: () => void;
}

export class Cluster {
  private readonly notifier: Notifier | null;
  private readonly logger: Logger;
  private pendingEventsSeq = 0;
  private pendingWork = false;
  private flushScheduled = false;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(deps: { notifier: Notifier | null; logger: Logger }) {
    this.notifier = deps.notifier;
    this.logger = deps.logger;
  }

  async listen(handlers: ClusterHandlers): Promise<void> {
    if (this.notifier === null) return;
    this.unsubscribe = await this.notifier.subscribe((message) => {
      switch (message.type) {
        case "cancel":
          handlers.onCancel(message);
          break;
        case "events":
          handlers.onEvents();
          break;
        case "work":
          handlers.onWork();
          break;
      }
    }, () => {
      this.logger.warn("reconnected to the database's notifications: catching up");
      handlers.onReconnect();
    });
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Events up to `seq` are stored. */
  announceEvents(seq: number): void {
    if (this.notifier === null) return;
    this.pendingEventsSeq = Math.max(this.pendingEventsSeq, seq);
    this.scheduleFlush();
  }

  /** There may be something to claim. */
  announceWork(): void {
    if (this.notifier === null) return;
    this.pendingWork = true;
    this.scheduleFlush();
  }

  /** Ask the nodes running the job's tasks to stop them (`force`: kill now). */
  sendCancel(jobId: string, recordId: string, force: boolean): void {
    this.send({ type: "cancel", jobId, recordId, force });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.pendingEventsSeq > 0) this.send({ type: "events", seq: this.pendingEventsSeq });
      if (this.pendingWork) this.send({ type: "work" });
      this.pendingEventsSeq = 0;
      this.pendingWork = false;
    });
  }

  private send(message: NodeMessage): void {
    if (this.notifier === null) return;
    this.notifier.publish(message).catch((error: unknown) => {
      // Lost: the receivers' polling fallback still sees the change.
      this.logger.warn({ err: error, message: message.type }, "could not notify the other nodes");
    });
  }
}
