/**
 * Buffers task log lines and writes them in batches: one transaction per flush instead of one
 * per line. `flush()` is awaited before an attempt's end is recorded, so no line produced
 * before the stop is lost (DESIGN invariant 6) — nor one produced while the database was
 * away: a batch it could not take is tried again until it is stored (retry.ts).
 */
import type { Logger } from "pino";
import type { NewLogLine, Store } from "../store/store.ts";
import { retryingWrite } from "./retry.ts";

export class LogSink {
  private buffer: NewLogLine[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private readonly store: Store;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly logger: Logger;
  private readonly closing: () => boolean;

  /** `closing`: whether the engine is closing (a batch that fails then is given up, not retried). */
  constructor(store: Store, options: { flushIntervalMs?: number; maxBuffered?: number; logger: Logger; closing: () => boolean }) {
    this.store = store;
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.maxBuffered = options.maxBuffered ?? 1000;
    this.logger = options.logger;
    this.closing = options.closing;
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
      await retryingWrite(() => this.store.appendLogs(lines), { what: "could not store task logs", context: { lines: lines.length }, logger: this.logger, closing: this.closing }).catch(() => undefined); // given up: logged
    });
    return this.writing;
  }
}
