/**
 * The live events of the page, through the client's event stream (src/client: the one SSE
 * parser, over `fetch`, since EventSource cannot send an Authorization header). Here only
 * what the page adds: it reconnects by itself with `Last-Event-ID`, so the server replays
 * what was missed (no gap, no duplicate), and it reports its state for the "Live" indicator.
 */
import { BelayApiError, BelayClient } from "../client/index.ts";
import type { BelayEvent } from "../client/index.ts";

export type StreamState = "connecting" | "live" | "reconnecting" | "stopped";

export interface StreamOptions {
  token: string;
  jobId?: string;
  /** Start after this event seq (replayed by the server). */
  after?: number;
  onEvent(event: BelayEvent): void;
  onState?(state: StreamState, detail?: string): void;
  /** Called after a reconnection: the caller re-reads what it shows, in case events were pruned. */
  onReconnect?(): void;
  /** A 401/403/404 ends the stream for good. */
  onFatal?(status: number): void;
}

const fatalStatuses = new Set([401, 403, 404]);

export function openEventStream(options: StreamOptions): () => void {
  const controller = new AbortController();
  const client = new BelayClient({ url: "", token: options.token });
  let last: string | undefined = options.after === undefined ? undefined : String(options.after);
  let attempt = 0;
  let stopped = false;

  const run = async (): Promise<void> => {
    while (!stopped) {
      options.onState?.(attempt === 0 ? "connecting" : "reconnecting");
      try {
        const stream = await client.connectEvents({
          ...(options.jobId === undefined ? {} : { jobId: options.jobId }),
          ...(last === undefined ? {} : { lastEventId: last }),
          signal: controller.signal,
        });
        if (attempt > 0) options.onReconnect?.();
        attempt = 0;
        options.onState?.("live");
        for await (const event of stream) {
          if (stream.lastEventId !== null) last = stream.lastEventId;
          options.onEvent(event);
        }
      } catch (error) {
        if (stopped || controller.signal.aborted) return;
        if (error instanceof BelayApiError && fatalStatuses.has(error.status)) {
          stopped = true;
          options.onState?.("stopped", `HTTP ${error.status}`);
          options.onFatal?.(error.status);
          return;
        }
      }
      if (stopped) return;
      attempt += 1;
      options.onState?.("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5))));
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}
