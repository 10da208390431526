/**
 * Buffers task log lines and writes them in batches: one transaction per flush instead of one
 * per line. `flush()` is awaited before an attempt's end is recorded, so no line produced
 * before the stop is lost (DESIGN invariant 6).
 */
import type { NewLogLine, Store } from "../store/store.ts";

export class LogSink {
  private buffer: NewLogLine[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly store: Store;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly onError: (error: unknown) => void;

  constructor(store: Store, options: { flushIntervalMs?: number; maxBuffered?: number; onError: (error: unknown) => void }) {
    this.store = store;
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.maxBuffered = options.maxBuffered ?? 1000;
    this.onError = options.onError;
  }

  push(line: NewLogLine): void {
    this.buffer.push(line);
    if (this.buffer.length >= this.maxBuffered) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
  }

  /** Write everything buffered so far; resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const lines = this.buffer;
    this.buffer = [];
    // Chain the writes so lines land in the order they were produced.
    this.writing = this.writing.then(async () => {
      if (lines.length === 0) return;
      try {
        await this.store.appendLogs(lines);
      } catch (error) {
        this.onError(error);
      }
    });
    return this.writing;
  }
}
