/**
 * Webhooks (DESIGN §5): every engine event that matches a registered webhook is queued in
 * the store as a delivery, and a loop POSTs due deliveries, retrying with exponential backoff.
 * Delivery is at-least-once: a delivery is marked `delivered` only after a 2xx answer, so a
 * crash between the answer and the write sends it again; receivers de-duplicate on `ce-id`
 * (the event's global sequence number, also the body's `id`).
 *
 * The request:
 *
 *     POST <webhook url>
 *     content-type: application/cloudevents+json
 *     ce-specversion: 1.0
 *     ce-id: <event id>            ce-type: <event type, e.g. belay.job.cancelled>
 *     ce-source: belay             ce-subject: <job id>        ce-time: <event time>
 *     belay-webhook-id: <webhook id>
 *     belay-delivery-attempt: <1, 2, …>
 *     belay-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 *     <the CloudEvents 1.0 JSON of the event, exactly as signed>
 *
 * To verify: split `belay-signature` on `,` into `t` and `v1`; compute
 * HMAC-SHA256 with the webhook's secret over the ASCII of `t`, a `.`, then the raw body bytes;
 * compare with `v1` in constant time; reject a `t` too far from your clock (e.g. 5 minutes)
 * to stop replays. `verifySignature` below does exactly that.
 *
 * Only the URLs an admin registered are ever called, redirects are not followed (a 3xx is a
 * failed attempt), each request has a timeout, and an answer's body is never read. Unless
 * `allowPrivateTargets`, only public addresses are connected to (webhook-targets.ts): a
 * refused one is recorded as "target address not allowed", whatever it was.
 * Any other status, a timeout or a network error is retried after `baseDelayMs` × 2^(n−1)
 * (capped at `maxDelayMs`) until `maxAttempts`, then the delivery is `failed`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { pino } from "pino";
import type { BelayEvent } from "../core/model.ts";
import type { Belay } from "../engine/engine.ts";
import type { WebhookStore } from "../engine/store-views.ts";
import type { WebhookDelivery, WebhookRecord } from "../store/store.ts";
import type { ServerExtensions } from "./extensions.ts";
import { registerWebhookRoutes } from "./routes/webhooks.ts";
import { postWebhook } from "./webhook-http.ts";
import { TargetNotAllowedError, guardedLookup, literalRefusal, plainLookup, systemResolver, targetNotAllowed } from "./webhook-targets.ts";
import type { Resolver } from "./webhook-targets.ts";

export { generateSecret } from "./routes/webhooks.ts";

export const signatureHeader = "belay-signature";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signPayload(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${v1}`;
}

/** Check a `belay-signature` header against the raw body; `toleranceSeconds` bounds the clock skew (default 300). */
export function verifySignature(secret: string, body: string | Buffer, header: string, options: { toleranceSeconds?: number; nowSeconds?: number } = {}): boolean {
  const parts = new Map<string, string[]>();
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq <= 0) continue;
    const key = item.slice(0, eq).trim();
    parts.set(key, [...(parts.get(key) ?? []), item.slice(eq + 1).trim()]);
  }
  const t = parts.get("t")?.[0];
  if (t === undefined || !/^\d+$/.test(t)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(t)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  return (parts.get("v1") ?? []).some((candidate) => {
    if (!/^[0-9a-f]{64}$/i.test(candidate)) return false;
    return timingSafeEqual(Buffer.from(candidate, "hex"), expected);
  });
}

export interface WebhookDispatcherOptions {
  /** How often due deliveries are looked for, ms. Default 100. */
  intervalMs?: number;
  /** Delay before the 2nd attempt; doubled for each further one. Default 1000 ms. */
  baseDelayMs?: number;
  /** Longest delay between attempts. Default 300 000 ms. */
  maxDelayMs?: number;
  /** Attempts before a delivery is `failed`. Default 8. */
  maxAttempts?: number;
  /** Per-request timeout, ms. Default 10 000. */
  timeoutMs?: number;
  /** Requests in flight at most. Default 16. */
  concurrency?: number;
  /**
   * On start, queue events stored after the newest event already queued for any webhook
   * (events of a crash window, of recovery, or of a stop), scanning at most this many. Default 100 000; 0 disables.
   */
  catchUpLimit?: number;
  logger?: Logger;
  /** User-Agent header. */
  userAgent?: string;
  /**
   * Let webhooks reach loopback, link-local, private, multicast and other non-public
   * addresses (`--webhook-allow-private`). Default false.
   */
  allowPrivateTargets?: boolean;
  /** How names are resolved when a delivery connects. Default: the system's (`dns.lookup`). */
  resolver?: Resolver;
}

export class WebhookDispatcher {
  private readonly store: WebhookStore;
  private readonly engine: Pick<Belay, "on">;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly catchUpLimit: number;
  private readonly userAgent: string;
  private readonly allowPrivateTargets: boolean;
  private readonly lookup: ReturnType<typeof guardedLookup>;

  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Events waiting to be queued, in the order the engine published them. */
  private incoming: BelayEvent[] = [];
  private draining: Promise<void> | null = null;
  private ticking: Promise<void> | null = null;
  private catchUp: Promise<void> | null = null;
  private readonly inFlight = new Map<number, Promise<void>>();
  private hooks: { at: number; list: WebhookRecord[] } | null = null;

  constructor(store: WebhookStore, engine: Pick<Belay, "on">, options: WebhookDispatcherOptions = {}) {
    this.store = store;
    this.engine = engine;
    this.logger = options.logger ?? pino({ level: "silent" });
    this.intervalMs = options.intervalMs ?? 100;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.concurrency = options.concurrency ?? 16;
    this.catchUpLimit = options.catchUpLimit ?? 100_000;
    this.userAgent = options.userAgent ?? "belay-webhooks";
    this.allowPrivateTargets = options.allowPrivateTargets ?? false;
    const resolver = options.resolver ?? systemResolver;
    this.lookup = this.allowPrivateTargets ? plainLookup(resolver) : guardedLookup(resolver);
  }

  /** Subscribe to the engine's events and start the delivery loop. */
  start(): this {
    if (this.unsubscribe !== null || this.stopped) return this;
    this.unsubscribe = this.engine.on("*", (event) => {
      if (this.stopped) return;
      this.incoming.push(event);
      this.drain();
    });
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    if (this.catchUpLimit > 0) this.catchUp = this.runCatchUp().catch((error: unknown) => this.logger.error({ err: error }, "webhook catch-up failed"));
    return this;
  }

  /** Forget the cached webhook list (after one was created or deleted). */
  invalidate(): void {
    this.hooks = null;
  }

  /** Queue the events received so far, then attempt every due delivery (tests, shutdown). */
  async flush(): Promise<void> {
    await this.catchUp;
    while (this.draining !== null) await this.draining;
    await this.tick();
    await Promise.all(this.inFlight.values());
  }

  /**
   * Stop: no new deliveries are queued or started; requests in flight are aborted (they stay
   * pending and are sent again on the next start, which at-least-once allows).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // Queue what the engine has already published, so nothing seen is lost.
    while (this.draining !== null) await this.draining;
    this.abort.abort();
    await Promise.allSettled([this.catchUp, this.ticking, ...this.inFlight.values()]);
  }

  private async webhooks(): Promise<WebhookRecord[]> {
    const now = Date.now();
    if (this.hooks === null || now - this.hooks.at > 1000) this.hooks = { at: now, list: await this.store.listWebhooks() };
    return this.hooks.list;
  }

  private drain(): void {
    if (this.draining !== null) return;
    this.draining = (async () => {
      let queued = 0;
      try {
        while (this.incoming.length > 0) {
          const batch = this.incoming;
          this.incoming = [];
          try {
            queued += await this.enqueue(batch);
          } catch (error) {
            this.logger.error({ err: error, events: batch.length }, "could not queue webhook deliveries");
          }
        }
      } finally {
        this.draining = null;
      }
      // Deliver at once only when something was queued; otherwise the interval timer looks
      // for retries that fell due. (A check after every burst of events cost 50-120 us
      // inside every API request, with no webhook at all: docs/benchmarks.md.)
      if (!this.stopped && queued > 0) void this.tick();
    })();
  }

  /** Queue the deliveries of these events; returns how many were queued. */
  private async enqueue(events: BelayEvent[]): Promise<number> {
    const hooks = await this.webhooks();
    if (hooks.length === 0) return 0;
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    let queued = 0;
    for (const event of events) {
      for (const hook of hooks) {
        if (!matches(hook, event)) continue;
        await this.store.enqueueDelivery(hook.id, event, nowMs, now);
        queued += 1;
      }
    }
    return queued;
  }

  /** Queue the stored events after the newest one already queued (once, at start). */
  private async runCatchUp(): Promise<void> {
    const hooks = await this.store.listWebhooks();
    let after = -1;
    for (const hook of hooks) {
      const [latest] = await this.store.listDeliveries(hook.id, 1);
      if (latest !== undefined) after = Math.max(after, latest.eventSeq);
    }
    // With no delivery ever queued there is no position to resume from: nothing to catch up.
    if (after < 0) return;
    let scanned = 0;
    while (!this.stopped && scanned < this.catchUpLimit) {
      const page = await this.store.eventsAfter(after, Math.min(1000, this.catchUpLimit - scanned));
      if (page.length === 0) break;
      const nowMs = Date.now();
      const now = new Date(nowMs).toISOString();
      for (const event of page) {
        for (const hook of hooks) {
          if (matches(hook, event) && event.time >= hook.createdAt) await this.store.enqueueDelivery(hook.id, event, nowMs, now);
        }
      }
      scanned += page.length;
      after = page.at(-1)?.seq ?? after;
      if (page.length < 1000) break;
    }
    if (scanned >= this.catchUpLimit) this.logger.warn({ scanned, after }, "webhook catch-up stopped at its limit");
  }

  private tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.ticking ??= this.pass()
      .catch((error: unknown) => {
        if (!this.stopped) this.logger.error({ err: error }, "webhook delivery pass failed");
      })
      .finally(() => {
        this.ticking = null;
      });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    const free = this.concurrency - this.inFlight.size;
    if (free <= 0) return;
    // The lease outlasts an attempt (its timeout) by far; the attempt then stores the real next time.
    const due = await this.store.claimDueDeliveries(Date.now(), free, this.timeoutMs * 3);
    if (due.length === 0) return;
    this.invalidate();
    const hooks = new Map((await this.webhooks()).map((h) => [h.id, h]));
    for (const delivery of due) {
      if (this.stopped || this.inFlight.size >= this.concurrency) break;
      if (this.inFlight.has(delivery.seq)) continue;
      const attempt = this.attempt(delivery, hooks.get(delivery.webhookId))
        .catch((error: unknown) => {
          if (!this.stopped) this.logger.error({ err: error, delivery: delivery.seq }, "webhook delivery bookkeeping failed");
        })
        .finally(() => this.inFlight.delete(delivery.seq));
      this.inFlight.set(delivery.seq, attempt);
    }
  }

  private async attempt(delivery: WebhookDelivery, hook: WebhookRecord | undefined): Promise<void> {
    if (hook === undefined) {
      // Deleted since the delivery was queued: it is never sent.
      await this.store.updateDelivery({ ...delivery, status: "failed", nextAttemptMs: null, lastError: "webhook deleted" });
      return;
    }
    const event = delivery.event;
    const body = JSON.stringify(event);
    const attemptNo = delivery.attempts + 1;
    const nowMs = Date.now();
    const headers: Record<string, string> = {
      "content-type": "application/cloudevents+json",
      "user-agent": this.userAgent,
      "ce-specversion": event.specversion,
      "ce-id": event.id,
      "ce-type": event.type,
      "ce-source": event.source,
      "ce-subject": event.subject,
      "ce-time": event.time,
      "belay-webhook-id": hook.id,
      "belay-delivery-attempt": String(attemptNo),
      [signatureHeader]: signPayload(hook.secret, body, Math.floor(nowMs / 1000)),
    };
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const url = new URL(hook.url);
      // An IP literal never goes through the lookup: check it here (a webhook stored before the check existed, too).
      if (!this.allowPrivateTargets && literalRefusal(url) !== null) throw new TargetNotAllowedError();
      statusCode = await postWebhook(url, {
        headers,
        body,
        timeoutMs: this.timeoutMs,
        signal: this.abort.signal,
        lookup: this.lookup,
      });
      if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
    } catch (e) {
      // Stopping: leave the attempt unrecorded; the delivery is still due at the next start.
      if (this.abort.signal.aborted) return;
      const err = e as Error & { code?: string };
      // A refused target says only that: not which address, nor whether anything answers there.
      error = err instanceof TargetNotAllowedError ? targetNotAllowed : err.name === "TimeoutError" ? err.message : (err.code ?? err.message);
    }
    const doneAt = Date.now();
    const next: WebhookDelivery = { ...delivery, attempts: attemptNo, lastStatusCode: statusCode, lastError: error };
    if (error === null) {
      Object.assign(next, { status: "delivered", nextAttemptMs: null, deliveredAt: new Date(doneAt).toISOString() });
    } else if (attemptNo >= this.maxAttempts) {
      Object.assign(next, { status: "failed", nextAttemptMs: null });
      this.logger.warn({ webhookId: hook.id, eventId: event.id, attempts: attemptNo, error }, "webhook delivery failed");
    } else {
      const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attemptNo - 1));
      next.nextAttemptMs = doneAt + delay;
    }
    await this.store.updateDelivery(next);
  }
}

function matches(hook: WebhookRecord, event: BelayEvent): boolean {
  return hook.eventTypes.length === 0 || hook.eventTypes.includes(event.type);
}

export interface BelayWebhooks {
  dispatcher: WebhookDispatcher;
  /** Adds the admin routes under /api/v1/webhooks. */
  extension: ServerExtensions;
  stop(): Promise<void>;
}

/** A started dispatcher on the engine's store, and the routes that manage webhooks. */
export function createWebhooks(engine: Pick<Belay, "on" | "webhooks">, options: WebhookDispatcherOptions = {}): BelayWebhooks {
  const dispatcher = new WebhookDispatcher(engine.webhooks, engine, options).start();
  return {
    dispatcher,
    extension: {
      registerApiRoutes(api) {
        registerWebhookRoutes(api, { store: engine.webhooks, onChange: () => dispatcher.invalidate(), allowPrivateTargets: options.allowPrivateTargets ?? false });
      },
    },
    stop: () => dispatcher.stop(),
  };
}
