/**
 * A consumer of the contract's `job.cancelled` event: an HTTP endpoint that Belay's webhook
 * POSTs its CloudEvents to. It checks each delivery's `belay-signature` (HMAC-SHA256 of the
 * body with the webhook's secret), and it de-duplicates on the event id, because deliveries
 * are at-least-once. It answers 204 to take a delivery and 401 to refuse a forged one.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { BelayEvent } from "../../src/client/index.ts";
import { verifySignature } from "../../src/server/webhooks.ts";
import { jobCancelledFrom } from "./contract.ts";
import type { JobCancelledPayload } from "./contract.ts";

export interface JobCancelledReceiver {
  url: string;
  /** Every distinct `job.cancelled` received, in arrival order. */
  received: JobCancelledPayload[];
  /** Deliveries refused for a bad or missing signature. */
  rejected: number;
  /** Resolve with the event for `jobId` once it has arrived. */
  waitFor(jobId: string, timeoutMs?: number): Promise<JobCancelledPayload>;
  close(): Promise<void>;
}

export async function startReceiver(secret: string, onEvent: (payload: JobCancelledPayload) => void = () => undefined): Promise<JobCancelledReceiver> {
  const received: JobCancelledPayload[] = [];
  const seen = new Set<string>();
  const waiters: Array<() => void> = [];
  const state = { rejected: 0 };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const signature = req.headers["belay-signature"];
      if (typeof signature !== "string" || !verifySignature(secret, body, signature)) {
        state.rejected += 1;
        res.writeHead(401).end();
        return;
      }
      const payload = jobCancelledFrom(JSON.parse(body.toString("utf8")) as BelayEvent);
      if (payload !== null && !seen.has(payload.eventId)) {
        seen.add(payload.eventId);
        received.push(payload);
        onEvent(payload);
        waiters.splice(0).forEach((wake) => wake());
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const waitFor = async (jobId: string, timeoutMs = 15_000): Promise<JobCancelledPayload> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = received.find((p) => p.jobId === jobId);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no job.cancelled for ${jobId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    get rejected() {
      return state.rejected;
    },
    waitFor,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Belay's deliveries keep their connection alive; do not wait for it to go idle.
        server.closeAllConnections();
      }),
  };
}
