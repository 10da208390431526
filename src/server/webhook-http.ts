/**
 * One webhook POST over node:http / node:https, whose socket resolves names through the
 * given `lookup` (webhook-targets.ts), so the address checked is the address connected to.
 * Redirects are not followed (the status is returned as is) and the answer's body is never read.
 */
import { request as httpRequest } from "node:http";
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";

export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal: AbortSignal;
  lookup: LookupFunction;
}

export class WebhookTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

/** POST `body` to `url`; resolves with the answer's status code. */
export function postWebhook(url: URL, options: PostOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(options.body, "utf8");
    const requestOptions: RequestOptions = {
      method: "POST",
      headers: { ...options.headers, "content-length": String(payload.length) },
      lookup: options.lookup,
      // One connection per delivery: a pooled socket would skip the lookup (and its check).
      agent: false,
      signal: options.signal,
    };
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    let settled = false;
    let req: ClientRequest | null = null;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      req?.destroy();
      reject(new WebhookTimeoutError(options.timeoutMs));
    }, options.timeoutMs);
    req = send(url, requestOptions, (res: IncomingMessage) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      // The answer's body is not ours to read; release the connection.
      res.destroy();
    });
    req.on("error", (error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(error);
    });
    req.end(payload);
  });
}
