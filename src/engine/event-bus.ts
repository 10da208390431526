/**
 * In-process fan-out of stored events to subscribers (`belay.on`).
 *
 * With a shared store, an event reaches the bus twice on the node that wrote it: once right
 * after its commit, and once more from the feed that follows every node's events. Each event
 * is delivered once: the bus remembers the seqs it delivered recently (`dedupe`).
 */
import type { NodeDrainedEvent } from "../core/drain.ts";
import type { BelayEvent, EventType } from "../core/model.ts";

export type EventListener = (event: BelayEvent) => void;
export type NodeEventListener = (event: NodeDrainedEvent) => void;

/** How many delivered seqs to remember; far more than can be in flight between the two paths. */
const rememberSeqs = 50_000;

export class EventBus {
  private readonly byType = new Map<string, Set<EventListener>>();
  private readonly delivered: Set<number> | null;
  /** Node events have no job and no seq; "*" (job events) subscribers do not get them. */
  private readonly nodeListeners = new Set<NodeEventListener>();

  constructor(options: { dedupe?: boolean } = {}) {
    this.delivered = options.dedupe === true ? new Set() : null;
  }

  /** Subscribe to one event type, or to every event with "*". Returns the unsubscribe function. */
  on(type: EventType | "*", listener: EventListener): () => void {
    let set = this.byType.get(type);
    if (set === undefined) {
      set = new Set();
      this.byType.set(type, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  onNode(listener: NodeEventListener): () => void {
    this.nodeListeners.add(listener);
    return () => this.nodeListeners.delete(listener);
  }

  emitNode(event: NodeDrainedEvent): void {
    for (const listener of this.nodeListeners) {
      try {
        listener(event);
      } catch {
        /* ignored: listener errors are the subscriber's */
      }
    }
  }

  emit(events: readonly BelayEvent[]): void {
    for (const event of events) {
      if (this.delivered !== null) {
        if (this.delivered.has(event.seq)) continue;
        this.delivered.add(event.seq);
        if (this.delivered.size > rememberSeqs) this.forgetOldest();
      }
      for (const type of [event.type, "*"]) {
        const listeners = this.byType.get(type);
        if (listeners === undefined) continue;
        for (const listener of listeners) {
          // A throwing subscriber must not break the engine's own flow.
          try {
            listener(event);
          } catch {
            /* ignored: listener errors are the subscriber's */
          }
        }
      }
    }
  }

  /** Sets iterate in insertion order: drop the first half. */
  private forgetOldest(): void {
    const set = this.delivered;
    if (set === null) return;
    let drop = set.size / 2;
    for (const seq of set) {
      if (drop-- <= 0) break;
      set.delete(seq);
    }
  }
}
