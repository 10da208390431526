/** In-process fan-out of stored events to subscribers (`belay.on`). */
import type { BelayEvent, EventType } from "../core/model.ts";

export type EventListener = (event: BelayEvent) => void;

export class EventBus {
  private readonly byType = new Map<string, Set<EventListener>>();

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

  emit(events: readonly BelayEvent[]): void {
    for (const event of events) {
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
}
