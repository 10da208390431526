/** The live event stream of `GET /api/v1/events`, as an async iterable of CloudEvents. */
import type { BelayEvent } from "../core/model.ts";
import { BelayApiError } from "./errors.ts";
import { parseSse } from "./sse.ts";

export interface EventsOptions {
  /** Only this job's events. */
  jobId?: string | undefined;
  /** Replay the stored events after this id (an event's `id`, its global seq) before the live ones. */
  lastEventId?: string | undefined;
  /** Aborting it ends the stream (the iteration ends without an error). */
  signal?: AbortSignal | undefined;
}

/**
 * A connected stream: the server has subscribed this client, so every event from now on
 * (and, with `lastEventId`, every stored one after it) will be yielded, in order. Iterate it
 * once; `close()` (or breaking out of the loop) ends it and releases the connection.
 */
export class EventStream implements AsyncIterable<BelayEvent> {
  /** The `id` of the last event yielded, to resume from with `lastEventId`. */
  lastEventId: string | null;
  private readonly body: ReadableStream<Uint8Array>;
  private readonly controller: AbortController;
  /** The controller's signal, or it combined with the caller's. */
  private readonly signal: AbortSignal;

  constructor(body: ReadableStream<Uint8Array>, controller: AbortController, signal: AbortSignal, lastEventId: string | null) {
    this.body = body;
    this.controller = controller;
    this.signal = signal;
    this.lastEventId = lastEventId;
  }

  close(): void {
    this.controller.abort();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<BelayEvent, void, undefined> {
    try {
      for await (const frame of parseSse(this.body)) {
        let event: BelayEvent;
        try {
          event = JSON.parse(frame.data) as BelayEvent;
        } catch {
          throw new BelayApiError("BAD_RESPONSE", `the event stream sent a frame that is not JSON: ${frame.data.slice(0, 200)}`, 200);
        }
        this.lastEventId = frame.id ?? event.id;
        yield event;
      }
    } catch (error) {
      // Closing the stream (or the caller's signal) aborts the read: that is the end, not a failure.
      if (!this.signal.aborted) throw error;
    } finally {
      this.controller.abort();
    }
  }
}
