/**
 * Follows the events every node stores (shared store only), so that this node's subscribers
 * — SSE streams, webhooks, `waitForJob`, a cancellation awaiting a task on another node — see
 * them too. Pulled when a node announces new events, and on every poll in case an
 * announcement was lost. Events are numbered in commit order (the store's events lock), so
 * reading after a cursor misses none.
 */
import type { Logger } from "pino";
import type { BelayEvent } from "../../core/model.ts";
import type { Store } from "../../store/store.ts";

const pageSize = 1000;

export class EventFeed {
  private readonly store: Store;
  private readonly emit: (events: BelayEvent[]) => void;
  private readonly logger: Logger;
  private cursor = 0;
  private pulling: Promise<void> | null = null;
  private again = false;

  constructor(deps: { store: Store; emit: (events: BelayEvent[]) => void; logger: Logger }) {
    this.store = deps.store;
    this.emit = deps.emit;
    this.logger = deps.logger;
  }

  /** Start after the events stored so far. */
  async start(): Promise<void> {
    this.cursor = await this.store.maxEventSeq();
  }

  /** Read and deliver new events; calls while a pull runs make one more pull after it. */
  pull(): void {
    if (this.pulling !== null) {
      this.again = true;
      return;
    }
    this.pulling = this.drain()
      .catch((error: unknown) => this.logger.warn({ err: error }, "could not read other nodes' events"))
      .finally(() => {
        this.pulling = null;
        if (this.again) {
          this.again = false;
          this.pull();
        }
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const events = await this.store.eventsAfter(this.cursor, pageSize);
      const last = events.at(-1);
      if (last === undefined) return;
      this.cursor = last.seq;
      this.emit(events);
      if (events.length < pageSize) return;
    }
  }
}
