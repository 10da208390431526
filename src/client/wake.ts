/** Waiting on a stream with a timer beside it: the pattern of every "live, with a polling safety net" loop. */

/**
 * Resolve with the next item of `next` (or "ended" when the iterator is done or failed), or
 * with "timer" after `ms` or when `signal` aborts, whichever comes first. A pending `next`
 * is left running: pass the same promise again to keep waiting for it.
 */
export async function wake<T>(next: Promise<IteratorResult<T>> | null, ms: number, signal?: AbortSignal): Promise<T | "ended" | "timer"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const timed = new Promise<"timer">((resolve) => {
    timer = setTimeout(() => resolve("timer"), ms);
    onAbort = () => resolve("timer");
    if (signal?.aborted === true) resolve("timer");
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const woken = next === null ? [] : [next.then((r): T | "ended" => (r.done === true ? "ended" : r.value), (): "ended" => "ended")];
  try {
    return await Promise.race([timed, ...woken]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}
