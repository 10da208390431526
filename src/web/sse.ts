/**
 * Server-sent events over `fetch`: EventSource cannot send an Authorization header, so the
 * `text/event-stream` body is read and parsed here. The stream reconnects by itself with
 * `Last-Event-ID`, so the server replays what was missed (no gap, no duplicate).
 */
import type { BelayEvent } from "../core/model.ts";

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

export function openEventStream(options: StreamOptions): () => void {
  const controller = new AbortController();
  let last: number | null = options.after ?? null;
  let attempt = 0;
  let stopped = false;

  const parse = (block: string): void => {
    let data = "";
    let id: string | null = null;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") data += (data === "" ? "" : "\n") + value;
      else if (field === "id") id = value;
    }
    if (id !== null && /^\d+$/.test(id)) last = Number(id);
    if (data === "") return;
    try {
      options.onEvent(JSON.parse(data) as BelayEvent);
    } catch (error) {
      console.error("bad event", error);
    }
  };

  const run = async (): Promise<void> => {
    while (!stopped) {
      options.onState?.(attempt === 0 ? "connecting" : "reconnecting");
      try {
        const params = new URLSearchParams();
        if (options.jobId !== undefined) params.set("jobId", options.jobId);
        const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: "text/event-stream" };
        if (last !== null) headers["last-event-id"] = String(last);
        const response = await fetch(`/api/v1/events${params.size === 0 ? "" : `?${params.toString()}`}`, { headers, signal: controller.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          stopped = true;
          options.onState?.("stopped", `HTTP ${response.status}`);
          options.onFatal?.(response.status);
          return;
        }
        if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
        if (attempt > 0) options.onReconnect?.();
        attempt = 0;
        options.onState?.("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replaceAll("\r\n", "\n");
          let end: number;
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (stopped || controller.signal.aborted) return;
        void error;
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
