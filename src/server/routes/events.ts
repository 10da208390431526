/**
 * GET /api/v1/events: server-sent events, CloudEvents 1.0 JSON in each `data:` line, `id:`
 * the event's global sequence number. A client resumes with `Last-Event-ID` (or `?after=`):
 * the stored events after it are replayed first, then live ones follow with no gap and no
 * duplicate.
 *
 * Bounded (DESIGN §6):
 * - at most `maxStreamsPerToken` open streams per token (429 RATE_LIMITED beyond);
 * - backpressure: a frame is written only once the socket took the previous ones. Live events
 *   wait in a queue of at most `maxQueuedEvents`; when a slow reader lets it overflow, the
 *   queue is dropped and the stream catches up from the store instead (every published event
 *   is stored first), page by page at the reader's pace — memory stays bounded, nothing is lost;
 * - a stream ends when its token is revoked or expires: the open streams' tokens are checked
 *   again every `authCheckMs`.
 */
import type { FastifyInstance } from "fastify";
import { BelayError } from "../../core/errors.ts";
import type { BelayEvent } from "../../core/model.ts";
import type { TokenStore } from "../../engine/store-views.ts";
import type { AppDeps } from "../deps.ts";
import { eventsQuery } from "../../core/requests.ts";
import { authenticate } from "../auth.ts";
import { errorResponses } from "../schemas.ts";

const heartbeatMs = 15_000;
const pageSize = 1000;

function frame(event: BelayEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

interface OpenStream {
  tokenId: string;
  authorization: string | undefined;
  end(reason: string): void;
}

/** The open streams of one app: counted per token, and ended when their token stops being valid. */
class OpenStreams {
  private readonly streams = new Set<OpenStream>();
  private readonly perToken = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private readonly store: TokenStore;
  private readonly maxPerToken: number;
  private readonly checkMs: number;

  constructor(store: TokenStore, maxPerToken: number, checkMs: number) {
    this.store = store;
    this.maxPerToken = maxPerToken;
    this.checkMs = checkMs;
  }

  /** Register a stream, or 429 when its token has too many. Returns the function that releases it. */
  admit(stream: OpenStream): () => void {
    const open = this.perToken.get(stream.tokenId) ?? 0;
    if (open >= this.maxPerToken) {
      throw new BelayError("RATE_LIMITED", `this token already has ${open} open event streams, the most allowed; close one first`, {
        details: { limit: this.maxPerToken },
      });
    }
    this.perToken.set(stream.tokenId, open + 1);
    this.streams.add(stream);
    this.timer ??= setInterval(() => void this.check(), this.checkMs).unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.streams.delete(stream);
      const left = (this.perToken.get(stream.tokenId) ?? 1) - 1;
      if (left <= 0) this.perToken.delete(stream.tokenId);
      else this.perToken.set(stream.tokenId, left);
      if (this.streams.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /** Each distinct credential once: a revoked or expired one ends all its streams. */
  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const byCredential = new Map<string | undefined, OpenStream[]>();
      for (const s of this.streams) byCredential.set(s.authorization, [...(byCredential.get(s.authorization) ?? []), s]);
      for (const [authorization, streams] of byCredential) {
        let reason: string | null = null;
        try {
          await authenticate(this.store, authorization);
        } catch (error) {
          // A store that cannot answer right now is no verdict on the token.
          if (error instanceof BelayError && error.code === "UNAUTHENTICATED") reason = error.message;
        }
        if (reason !== null) for (const s of streams) s.end(reason);
      }
    } finally {
      this.checking = false;
    }
  }

  endAll(reason: string): void {
    for (const s of [...this.streams]) s.end(reason);
  }
}

export function registerEventRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  const limits = deps.eventStreams ?? {};
  const maxQueued = limits.maxQueuedEvents ?? 1000;
  const open = new OpenStreams(engine.tokens, limits.maxStreamsPerToken ?? 16, limits.authCheckMs ?? 2000);
  api.addHook("preClose", async () => open.endAll("the server is stopping"));

  api.get<{ Querystring: { jobId?: string; after?: number } }>(
    "/events",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Live events (text/event-stream)",
        description:
          "Server-sent events; each `data:` is a CloudEvents 1.0 JSON object. Resume with the `Last-Event-ID` header or `after`. " +
          "A token may hold a bounded number of streams at once (429 RATE_LIMITED beyond); a stream ends when its token is revoked or expires.",
        querystring: eventsQuery,
        response: { 200: { description: "An endless text/event-stream", type: "string" }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const jobId = request.query.jobId;
      const header = request.headers["last-event-id"];
      // Only an exact integer: a larger number is no event id, and the stores refuse it.
      const fromHeader = typeof header === "string" && /^\d+$/.test(header) && Number.isSafeInteger(Number(header)) ? Number(header) : undefined;
      let last = fromHeader ?? request.query.after ?? null;
      if (jobId !== undefined) await engine.getJob(jobId);
      // Several nodes on one store: this node's bus has its own events at once and the other
      // nodes' (numbered before them, maybe) only when its feed reads them, so live events
      // are not in seq order, and skipping by seq would drop those. There the bus only says
      // "something new is stored" and the stream reads the store in commit order, from the
      // last event it sent — each event once, none missed.
      const fromStore = engine.events.shared;
      if (fromStore && last === null) last = await engine.events.maxEventSeq();

      const raw = reply.raw;
      let closed = false;
      let queue: BelayEvent[] = [];
      let catchUp = last !== null;
      let wake: (() => void) | null = null;
      const signal = (): void => {
        const w = wake;
        wake = null;
        w?.();
      };
      const stream: OpenStream = {
        tokenId: request.caller.tokenId,
        authorization: request.headers.authorization,
        end(reason) {
          if (closed) return;
          raw.end(`: stream closed: ${reason.replaceAll(/[\r\n]/g, " ")}\n\n`);
          cleanup();
        },
      };
      const release = open.admit(stream);

      const unsubscribe = engine.on("*", (e) => {
        if (closed) return;
        if (fromStore) catchUp = true;
        else if (queue.length >= maxQueued) {
          // Too far behind: forget the queue and read the rest from the store at the reader's pace.
          if (last === null) last = (queue[0]?.seq ?? e.seq) - 1;
          queue = [];
          catchUp = true;
        } else queue.push(e);
        signal();
      });
      const heartbeat = setInterval(() => {
        // Only on an idle socket: a reader that is behind gets no more bytes queued.
        if (raw.writableLength === 0) raw.write(": keep-alive\n\n");
      }, heartbeatMs);
      function cleanup(): void {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        release();
        signal();
      }
      // The response closes when the reader goes away (or when the stream is ended here).
      raw.on("close", cleanup);

      reply.hijack();
      raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
      raw.write(": belay events\n\n");

      const drained = (): Promise<void> =>
        new Promise((resolve) => {
          const done = (): void => {
            raw.off("drain", done);
            raw.off("close", done);
            resolve();
          };
          raw.on("drain", done);
          raw.on("close", done);
        });
      const send = async (e: BelayEvent): Promise<void> => {
        if (last !== null && e.seq <= last) return;
        last = e.seq;
        if (jobId !== undefined && e.subject !== jobId) return;
        if (!raw.write(frame(e))) await drained();
      };

      // One writer per stream, so frames leave in order and only as fast as the reader takes them.
      void (async () => {
        try {
          while (!closed) {
            if (catchUp && last !== null) {
              catchUp = false;
              // Replay in pages; the job filter applies after reading, as ids are global.
              for (;;) {
                const from: number = last ?? 0;
                const page = jobId === undefined ? await engine.events.eventsAfter(from, pageSize) : await engine.events.jobEvents(jobId, from, pageSize);
                for (const e of page) {
                  if (closed) return;
                  await send(e);
                }
                if (page.length < pageSize) break;
              }
              continue;
            }
            const next = queue.shift();
            if (next === undefined) {
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              continue;
            }
            await send(next);
          }
        } catch (error) {
          request.log.error({ err: error }, "event stream failed");
          stream.end("the server could not read its events");
        }
      })();
    },
  );
}
