/**
 * GET /api/v1/events: server-sent events, CloudEvents 1.0 JSON in each `data:` line, `id:`
 * the event's global sequence number. A client resumes with `Last-Event-ID` (or `?after=`):
 * the stored events after it are replayed first, then live ones follow with no gap and no
 * duplicate (live events are buffered while the replay runs).
 */
import type { FastifyInstance } from "fastify";
import type { BelayEvent } from "../../core/model.ts";
import type { AppDeps } from "../deps.ts";
import { eventsQuery } from "../../core/requests.ts";
import { errorResponses } from "../schemas.ts";

const heartbeatMs = 15_000;

function frame(event: BelayEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export function registerEventRoutes(api: FastifyInstance, deps: AppDeps): void {
  const { engine } = deps;
  api.get<{ Querystring: { jobId?: string; after?: number } }>(
    "/events",
    {
      config: { role: "viewer" },
      schema: {
        summary: "Live events (text/event-stream)",
        description: "Server-sent events; each `data:` is a CloudEvents 1.0 JSON object. Resume with the `Last-Event-ID` header or `after`.",
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

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
      raw.write(": belay events\n\n");

      const matches = (e: BelayEvent): boolean => jobId === undefined || e.subject === jobId;
      let buffered: BelayEvent[] | null = [];
      const send = (e: BelayEvent): void => {
        if (last !== null && e.seq <= last) return;
        last = e.seq;
        if (matches(e)) raw.write(frame(e));
      };
      const unsubscribe = engine.on("*", (e) => (buffered === null ? send(e) : buffered.push(e)));
      const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), heartbeatMs);
      const close = (): void => {
        clearInterval(heartbeat);
        unsubscribe();
      };
      request.raw.on("close", close);

      if (last !== null) {
        // Replay in pages; the job filter applies after reading, as ids are global.
        for (;;) {
          const page = jobId === undefined ? await engine.events.eventsAfter(last, 1000) : await engine.events.jobEvents(jobId, last, 1000);
          for (const e of page) send(e);
          if (page.length < 1000) break;
        }
      }
      for (const e of buffered) send(e);
      buffered = null;
    },
  );
}
