/**
 * What a node does because other nodes share its store (PostgreSQL), assembled: it announces
 * its own events and new work, follows the other nodes' events (the feed), and stops its
 * runners for cancels executed elsewhere (the cancel agent). Every message has a polling
 * fallback (`poll`, on each scheduler poll). With a store one engine uses, all of it is idle.
 */
import type { Logger } from "pino";
import type { Store } from "../../store/store.ts";
import type { EventBus } from "../event-bus.ts";
import type { CancelAgent } from "./cancel-agent.ts";
import { EventFeed } from "./event-feed.ts";
import { Cluster } from "./messages.ts";

export class ClusterNode {
  /** Messages to the other nodes (the executor's cancels). */
  readonly messages: Cluster;
  private readonly feed: EventFeed;
  private readonly shared: boolean;
  private readonly logger: Logger;
  private agent: CancelAgent | null = null;

  constructor(deps: { store: Store; bus: EventBus; logger: Logger }) {
    const { store, bus, logger } = deps;
    this.shared = store.shared;
    this.logger = logger;
    this.messages = new Cluster({ notifier: store.notifier, logger });
    // With a shared store, events reach this node's bus from its own writes and from the feed.
    let feeding = false;
    if (store.shared) {
      bus.on("*", (event) => {
        if (feeding) return; // Another node's event: that node announced it.
        this.messages.announceEvents(event.seq);
        if (event.type === "belay.job.created" || event.type === "belay.job.resumed") this.messages.announceWork();
      });
    }
    this.feed = new EventFeed({
      store,
      emit: (events) => {
        feeding = true;
        try {
          bus.emit(events);
        } finally {
          feeding = false;
        }
      },
      logger,
    });
  }

  /** Start following the other nodes: their events from now on, their cancels, their new work. */
  async start(deps: { agent: CancelAgent; wake: () => void }): Promise<void> {
    if (!this.shared) return;
    this.agent = deps.agent;
    const agent = deps.agent;
    await this.feed.start();
    await this.messages.listen({
      onCancel: (message) => agent.onCancel(message),
      onEvents: () => this.feed.pull(),
      onWork: () => deps.wake(),
      onReconnect: () => {
        this.feed.pull();
        void agent.poll().catch((error: unknown) => this.logger.warn({ err: error }, "cancel poll failed"));
        deps.wake();
      },
    });
  }

  /** The fallback for a lost message: read the other nodes' events, and this node's tasks being cancelled. */
  async poll(): Promise<void> {
    if (!this.shared || this.agent === null) return;
    this.feed.pull();
    await this.agent.poll();
  }

  async close(): Promise<void> {
    await this.messages.close();
  }
}
