/** Start a Belay server: engine + HTTP API on one port. `belay serve` is a thin wrapper over this. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import type { Logger } from "pino";
import type { Belay } from "../engine/engine.ts";
import { openBelay } from "../engine/open.ts";
import type { BelayOptions } from "../engine/open.ts";
import { buildApp } from "./app.ts";
import { ensureAdminToken } from "./auth.ts";
import type { ServerExtensions } from "./extensions.ts";
import { createMetrics } from "./metrics.ts";
import { createSignIn, signInUrl } from "./sign-in.ts";
import type { SignInOptions } from "./sign-in.ts";
import { createWebhooks } from "./webhooks.ts";
import { createWebUi } from "./web.ts";

export interface ServeOptions extends BelayOptions {
  /** Default 127.0.0.1: the API is not exposed beyond this machine unless asked. */
  host?: string;
  /** Default 7420; 0 picks a free port. */
  port?: number;
  rateLimitPerMinute?: number;
  /** Refused credentials per client address per minute before 429 (default 60). */
  authFailuresPerMinute?: number;
  bodyLimitBytes?: number;
  /** Let webhooks reach loopback, link-local, private and other non-public addresses (`--webhook-allow-private`). */
  webhookAllowPrivate?: boolean;
  /** Lifetimes of sign-in codes and of the web UI sessions they open. */
  signIn?: SignInOptions;
}

export interface RunningServer {
  url: string;
  engine: Belay;
  app: FastifyInstance;
  home: string;
  /** Where the admin token is (written on the first start on an empty home), or null. */
  adminTokenPath: string | null;
  /** A one-time link that signs a browser in to the web UI as admin (expires in minutes; `belay ui` makes more). */
  signInUrl: string;
  signInExpiresAt: string;
  logger: Logger;
  /** Stop taking requests, then close the engine (running tasks get `graceMs`). */
  close(options?: { graceMs?: number }): Promise<void>;
}

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const home = resolve(options.home ?? process.env["BELAY_HOME"] ?? "./.belay");
  const logger = options.logger ?? pino({ level: process.env["BELAY_LOG_LEVEL"] ?? "info" });
  const engine = await openBelay({ ...options, home, logger });
  // GET /metrics, and the webhooks' routes and delivery loop (stopped before the engine closes its store).
  const metrics = createMetrics(engine);
  const webhooks = createWebhooks(engine, { logger, allowPrivateTargets: options.webhookAllowPrivate ?? false });
  try {
    const adminTokenPath = await ensureAdminToken(engine.tokens, home);
    // The web UI at / (the built bundle of src/web), and its sign-in: codes and their exchange.
    const signIn = createSignIn(engine.tokens, options.signIn);
    const extensions: ServerExtensions[] = [metrics.extension, webhooks.extension, signIn.extension, createWebUi()];
    const app = await buildApp({
      engine,
      logger,
      version,
      extensions: {
        registerApiRoutes: (api) => extensions.forEach((e) => e.registerApiRoutes?.(api)),
        registerRootRoutes: (root) => extensions.forEach((e) => e.registerRootRoutes?.(root)),
      },
      ...(options.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: options.rateLimitPerMinute }),
      ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
      ...(options.authFailuresPerMinute === undefined ? {} : { authFailuresPerMinute: options.authFailuresPerMinute }),
    });
    const address = await app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 7420 });
    // Whoever started the server holds the store, so the admin: the first link is theirs.
    const code = signIn.codes.create({ role: "admin", principal: "admin" });
    return {
      url: address,
      signInUrl: signInUrl(address, code.code),
      signInExpiresAt: code.expiresAt,
      engine,
      app,
      home,
      adminTokenPath,
      logger,
      async close(closeOptions = {}) {
        await app.close();
        await webhooks.stop();
        metrics.stop();
        await engine.close(closeOptions);
      },
    };
  } catch (error) {
    await webhooks.stop();
    metrics.stop();
    await engine.close();
    throw error;
  }
}
