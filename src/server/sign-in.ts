/**
 * Sign-in links for the web UI (DESIGN §6). No address is trusted, loopback included: a
 * browser gets a token only by presenting a **sign-in code**, which only someone who already
 * holds the admin role can have made — `belay serve` prints one at start (it runs with the
 * store, so it is the admin), `belay ui` asks `POST /api/v1/sign-in-codes` with an admin token.
 *
 * A code is 256 random bits, single use, and expires after `codeTtlMs` (default 10 minutes).
 * It travels in the link's fragment (`/#sign-in=<code>`), which browsers never send to a
 * server (no access log, proxy or Referer sees it). The UI posts it to `POST /ui/sign-in`,
 * which forgets the code and answers with a new **session token**: a real token in the store
 * (listed by `GET /tokens`, revocable like any other) with the role and principal the code
 * was made for, expiring after `sessionTtlSeconds` (default 12 hours).
 *
 * Codes live in this server's memory only (a hash of each, never the code): a restart
 * forgets them, and with several servers a code works only on the one that made it.
 * Refused codes count as refused credentials (the per-address 401 limit of app.ts).
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { BelayError } from "../core/errors.ts";
import type { TokenStore } from "../engine/store-views.ts";
import type { Role } from "../store/store.ts";
import { createToken, hashToken, roles } from "./auth.ts";
import type { ServerExtensions } from "./extensions.ts";
import { errorResponses } from "./schemas.ts";

export interface SignInOptions {
  /** How long a code may wait to be used. Default 10 minutes. */
  codeTtlMs?: number;
  /** Lifetime of the session token a code is exchanged for. Default 12 hours. */
  sessionTtlSeconds?: number;
  /** Codes outstanding at most (the oldest is dropped beyond). Default 1000. */
  maxCodes?: number;
}

export interface SignInCode {
  code: string;
  expiresAt: string;
  role: Role;
  principal: string;
}

interface Pending {
  role: Role;
  principal: string;
  expiresAtMs: number;
}

/** The fragment of the UI's URL that carries a code; the UI reads the same name (src/web/api.ts). */
export const signInFragment = "sign-in";

/** `<base>/#sign-in=<code>`: the link to print for a person. */
export function signInUrl(baseUrl: string, code: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/#${signInFragment}=${code}`;
}

export class SignInCodes {
  private readonly pending = new Map<string, Pending>();
  private readonly codeTtlMs: number;
  private readonly maxCodes: number;

  constructor(options: SignInOptions = {}) {
    this.codeTtlMs = options.codeTtlMs ?? 10 * 60_000;
    this.maxCodes = options.maxCodes ?? 1000;
  }

  create(grant: { role: Role; principal: string }): SignInCode {
    const now = Date.now();
    for (const [hash, p] of this.pending) if (p.expiresAtMs <= now) this.pending.delete(hash);
    while (this.pending.size >= this.maxCodes) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
    const code = randomBytes(32).toString("base64url");
    const expiresAtMs = now + this.codeTtlMs;
    this.pending.set(hashToken(code), { ...grant, expiresAtMs });
    return { code, expiresAt: new Date(expiresAtMs).toISOString(), ...grant };
  }

  /** The grant of a live code, which is forgotten at once (single use); null for an unknown, used or expired one. */
  redeem(code: string): { role: Role; principal: string } | null {
    const hash = hashToken(code);
    const found = this.pending.get(hash);
    // Deleted before anything else, in the same turn: two exchanges of one code cannot both pass.
    this.pending.delete(hash);
    if (found === undefined || found.expiresAtMs <= Date.now()) return null;
    return { role: found.role, principal: found.principal };
  }
}

export interface BelaySignIn {
  codes: SignInCodes;
  /** `POST /api/v1/sign-in-codes` (admin) and `POST /ui/sign-in` (public: the code is the credential). */
  extension: ServerExtensions;
}

const codeResponse = {
  type: "object",
  required: ["code", "expiresAt", "role", "principal", "path"],
  additionalProperties: false,
  properties: {
    code: { type: "string", description: "The one-time code (shown once)" },
    expiresAt: { type: "string", description: "When the code stops working if unused" },
    role: { type: "string", enum: [...roles] },
    principal: { type: "string" },
    path: { type: "string", description: "The UI path that signs in with it (`/#sign-in=<code>`); prefix the server's URL" },
  },
} as const;

export function createSignIn(store: TokenStore, options: SignInOptions = {}): BelaySignIn {
  const codes = new SignInCodes(options);
  const sessionTtlSeconds = options.sessionTtlSeconds ?? 12 * 3600;
  return {
    codes,
    extension: {
      registerApiRoutes(api: FastifyInstance) {
        api.post<{ Body: { role?: Role; principal?: string } }>(
          "/sign-in-codes",
          {
            config: { role: "admin" },
            schema: {
              summary: "Make a one-time sign-in code for the web UI (what `belay ui` prints)",
              description:
                "The code is single use and expires in minutes; `POST /ui/sign-in` exchanges it for a session token. " +
                "The session gets `role` and `principal` (default: the caller's).",
              body: {
                type: "object",
                additionalProperties: false,
                properties: {
                  role: { type: "string", enum: [...roles], description: "The session's role (default: admin, the caller's)" },
                  principal: { type: "string", minLength: 1, maxLength: 100, description: "Who the session acts as (default: the caller's principal)" },
                },
              },
              response: { 201: codeResponse, ...errorResponses },
            },
          },
          async (request, reply) => {
            const body = request.body ?? {};
            const made = codes.create({ role: body.role ?? request.caller.role, principal: body.principal ?? request.caller.principal });
            return reply.code(201).send({ ...made, path: `/#${signInFragment}=${made.code}` });
          },
        );
      },
      registerRootRoutes(app: FastifyInstance) {
        app.post<{ Body: { code: string } }>(
          "/ui/sign-in",
          {
            config: { role: "public" },
            schema: {
              summary: "Exchange a sign-in code for a session token (the web UI does this)",
              description: "Public: the code is the credential. A code works once; an unknown, used or expired one is 401 UNAUTHENTICATED (rate limited per address).",
              security: [],
              body: {
                type: "object",
                required: ["code"],
                additionalProperties: false,
                properties: { code: { type: "string", minLength: 1, maxLength: 200 } },
              },
              response: {
                200: {
                  type: "object",
                  required: ["token", "id", "role", "principal", "expiresAt"],
                  additionalProperties: false,
                  properties: {
                    token: { type: "string", description: "The session token (a bearer token for /api/v1)" },
                    id: { type: "string", description: "The session token's id (GET /tokens lists it; DELETE /tokens/{id} ends it)" },
                    role: { type: "string", enum: [...roles] },
                    principal: { type: "string" },
                    expiresAt: { type: "string" },
                  },
                },
                ...errorResponses,
              },
            },
          },
          async (request, reply) => {
            reply.header("cache-control", "no-store");
            const grant = codes.redeem(request.body.code);
            if (grant === null) {
              await app.countAuthFailure(request);
              throw new BelayError("UNAUTHENTICATED", "this sign-in link is unknown, was already used, or has expired: run `belay ui` for a new one");
            }
            const { secret, token } = await createToken(store, { name: "web UI session", role: grant.role, principal: grant.principal, expiresInSeconds: sessionTtlSeconds });
            return reply.send({ token: secret, id: token.id, role: token.role, principal: token.principal, expiresAt: token.expiresAt });
          },
        );
      },
    },
  };
}
