/**
 * This node's presence in the store: registered on open, a lease renewed by heartbeats,
 * marked stopped on a clean close. Each heartbeat also runs recovery's periodic pass, so the
 * nodes share the watch over each other.
 *
 * If a heartbeat finds this node declared dead (it was cut off from the database longer than
 * its lease, and another node recovered its tasks), the attempts running here are stale:
 * they are stopped at once and the node registers again with a clean slate.
 */
import type { Logger } from "pino";
import type { NodeRecord, Store } from "../../store/store.ts";

export interface PresenceDeps {
  store: Store;
  logger: Logger;
  node: NodeRecord;
  /** How often the lease is renewed. */
  intervalMs: number;
  /** Periodic work that rides on the heartbeat (recovery's pass). */
  onTick: () => Promise<void>;
  /** This node was declared dead: stop what runs here. */
  onDeclaredDead: () => Promise<void>;
}

export class Presence {
  private readonly deps: PresenceDeps;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(deps: PresenceDeps) {
    this.deps = deps;
  }

  async register(): Promise<void> {
    await this.deps.store.registerNode({ ...this.deps.node, heartbeatMs: Date.now() });
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(at: string): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.deps.store.markNodeStopped(this.deps.node.id, at).catch((error: unknown) => this.deps.logger.warn({ err: error }, "could not mark this node stopped"));
  }

  private async beat(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const { store, logger, node } = this.deps;
    try {
      if (store.shared && !(await store.heartbeat(node.id, Date.now()))) {
        logger.error({ nodeId: node.id }, "this node was declared dead (its lease expired): stopping its runs, which other nodes recovered, and registering again");
        await this.deps.onDeclaredDead();
        await this.register();
      }
      await this.deps.onTick();
    } catch (error) {
      // The database may be away for a while; the next beat tries again.
      logger.warn({ err: error }, "heartbeat failed");
    } finally {
      this.ticking = false;
    }
  }
}
