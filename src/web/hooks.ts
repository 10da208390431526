import { useEffect, useRef, useState } from "preact/hooks";
import type { BelayEvent } from "../core/model.ts";
import { openEventStream } from "./sse.ts";
import type { StreamState } from "./sse.ts";
import { useSession } from "./session.ts";

/** The current time, re-read every `everyMs` (ages and running durations). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/**
 * A function that runs `fn` at most once per `ms`, trailing: bursts of events (progress
 * lines, a bulk cancel) become one re-read.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const state = useRef<{ timer: ReturnType<typeof setTimeout> | null; last: number }>({ timer: null, last: 0 });
  useEffect(() => () => {
    if (state.current.timer !== null) clearTimeout(state.current.timer);
  }, []);
  return useRef(() => {
    const s = state.current;
    if (s.timer !== null) return;
    const wait = Math.max(0, s.last + ms - Date.now());
    s.timer = setTimeout(() => {
      s.timer = null;
      s.last = Date.now();
      latest.current();
    }, wait);
  }).current;
}

const streamListeners = new Set<(state: StreamState) => void>();
let streamState: StreamState = "stopped";

function publishState(state: StreamState): void {
  streamState = state;
  streamListeners.forEach((l) => l(state));
}

/** The state of the page's event stream, for the "Live" indicator in the header. */
export function useStreamState(): StreamState {
  const [state, setState] = useState(streamState);
  useEffect(() => {
    streamListeners.add(setState);
    return () => void streamListeners.delete(setState);
  }, []);
  return state;
}

/**
 * Follow live events (all jobs, or one) while the component is mounted. `after` replays
 * stored events after that seq first; `key` restarts the stream when it changes.
 */
export function useEvents(options: { jobId?: string; after?: number | null; enabled?: boolean; onEvent: (event: BelayEvent) => void; onReconnect?: () => void }, key: unknown[]): void {
  const session = useSession();
  const handlers = useRef(options);
  handlers.current = options;
  useEffect(() => {
    if (options.enabled === false || session === null) return;
    const stop = openEventStream({
      token: session.token,
      ...(options.jobId === undefined ? {} : { jobId: options.jobId }),
      ...(options.after === undefined || options.after === null ? {} : { after: options.after }),
      onEvent: (e) => handlers.current.onEvent(e),
      onReconnect: () => handlers.current.onReconnect?.(),
      onState: publishState,
      onFatal: (status) => {
        if (status === 401) session.signOut("expired");
      },
    });
    return () => {
      stop();
      publishState("stopped");
    };
  }, [session?.token, options.enabled, ...key]);
}

/** Whether the viewport is narrow (the 390 px phone layout). */
export function useNarrow(maxWidth = 700): boolean {
  const query = `(max-width: ${maxWidth}px)`;
  const [narrow, setNarrow] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const media = window.matchMedia(query);
    const update = (): void => setNarrow(media.matches);
    media.addEventListener("change", update);
    return () => media.removeEventListener("change", update);
  }, [query]);
  return narrow;
}
