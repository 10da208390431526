/**
 * The web UI (docs/web-ui.md): the Vite bundle in `dist/web` served at `/`, with a fallback
 * to `index.html` for the UI's own paths (`/jobs/<id>`, `/history`, …) so a reload or a
 * shared link works. The UI talks to `/api/v1` from the same origin with a bearer token.
 *
 * `GET /ui/local-token` hands the server's admin token (`<home>/admin.token`) to a browser
 * on this machine, so the person who just ran `belay serve` does not have to paste it.
 * Why that is acceptable: the file is readable by the user running the server, and only a
 * loopback peer gets an answer — anything local that can reach the port could as well read
 * the file as that user, or run `belay` which reads it by default. What would NOT be
 * acceptable is a remote peer looking local, so the route also refuses:
 * - a request carrying proxy headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`): behind a
 *   reverse proxy on the same host every remote browser arrives from 127.0.0.1;
 * - a `Host` that is not a loopback name: a DNS-rebinding page (evil.example resolving to
 *   127.0.0.1) would otherwise be "same origin" with this server in the victim's browser;
 * - a cross-site fetch (`Sec-Fetch-Site` other than same-origin / none).
 * The response is never cached. Serving with `--host 0.0.0.0` does not change any of this:
 * the check is on the peer's address, not on the listening one.
 */
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BelayError } from "../core/errors.ts";
import { sendError } from "./errors.ts";
import type { ServerExtensions } from "./extensions.ts";

export interface WebUiOptions {
  /** The server's home: the admin token is read from `<home>/admin.token`. */
  home: string;
  /** The built UI. Default: `dist/web` of this package (`npm run build:web`, run by `npm install`). */
  dir?: string;
}

/** `dist/web` of the package, from `src/server/web.ts` and from `dist/server/web.js` alike. */
export const defaultWebDir = fileURLToPath(new URL("../../dist/web/", import.meta.url));

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webmanifest": "application/manifest+json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** Paths that belong to the server, never to the UI: an unknown one is a JSON 404, not the app. */
const serverPrefixes = ["/api/", "/ui/", "/metrics", "/healthz", "/readyz", "/mcp"];

const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return address === "::1" || address === "0:0:0:0:0:0:0:1";
}

/** `localhost`, `*.localhost`, 127.x.y.z or [::1], with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === "") return false;
  const name = (host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "")).toLowerCase();
  return name === "localhost" || name.endsWith(".localhost") || isLoopbackAddress(name);
}

function refuseLocalToken(request: FastifyRequest): string | null {
  if (!isLoopbackAddress(request.socket.remoteAddress)) return "the local admin token is only offered to a browser on the server's own machine";
  const h = request.headers;
  if (h["forwarded"] !== undefined || h["x-forwarded-for"] !== undefined || h["x-real-ip"] !== undefined) {
    return "the local admin token is not offered through a proxy";
  }
  if (!isLoopbackHost(h.host)) return "the local admin token is only offered when the UI is opened as localhost or 127.0.0.1";
  const site = h["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") return "the local admin token is not offered to other sites";
  return null;
}

function notBuiltPage(dir: string): string {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Belay</title>
<body>
<h1>The Belay web UI is not built</h1>
<p>No <code>index.html</code> in <code>${dir.replaceAll("<", "&lt;")}</code>. Build it with <code>npm run build:web</code>
(<code>npm install</code> runs it). The API at <code>/api/v1</code> works without it.</p></body></html>`;
}

export function createWebUi(options: WebUiOptions): ServerExtensions {
  const root = resolve(options.dir ?? defaultWebDir);

  async function readAsset(urlPath: string): Promise<{ body: Buffer; type: string } | null> {
    if (urlPath.includes("\0")) return null;
    const file = resolve(root, `.${urlPath}`);
    if (file !== root && !file.startsWith(root + sep)) return null;
    try {
      if (!(await stat(file)).isFile()) return null;
      return { body: await readFile(file), type: contentTypes[extname(file).toLowerCase()] ?? "application/octet-stream" };
    } catch {
      return null;
    }
  }

  function notFound(reply: FastifyReply): FastifyReply {
    reply.callNotFound();
    return reply;
  }

  async function serve(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    let path: string;
    try {
      path = decodeURIComponent(request.url.split("?")[0] ?? "/");
    } catch {
      return notFound(reply);
    }
    if (serverPrefixes.some((p) => path === p.replace(/\/$/, "") || path.startsWith(p.endsWith("/") ? p : `${p}/`))) return notFound(reply);
    reply.header("x-content-type-options", "nosniff");
    if (path !== "/" && path !== "/index.html") {
      const asset = await readAsset(path);
      if (asset !== null) {
        // Vite puts content-hashed names under /assets: cache them forever.
        reply.header("cache-control", path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
        return reply.type(asset.type).send(asset.body);
      }
      // A missing file (anything with an extension) is a 404; other paths are the app's routes.
      if (extname(path) !== "") return notFound(reply);
    }
    const index = await readAsset("/index.html");
    reply.header("cache-control", "no-cache").header("content-security-policy", contentSecurityPolicy).header("referrer-policy", "no-referrer");
    if (index === null) return reply.code(503).type("text/html; charset=utf-8").send(notBuiltPage(root));
    return reply.type(index.type).send(index.body);
  }

  return {
    registerRootRoutes(app: FastifyInstance) {
      app.get("/ui/local-token", { config: { role: "public" }, schema: { hide: true } }, async (request, reply) => {
        reply.header("cache-control", "no-store");
        const refusal = refuseLocalToken(request);
        if (refusal !== null) return sendError(reply, new BelayError("FORBIDDEN", refusal, { details: { reason: "not_local" } }));
        let token: string;
        try {
          token = (await readFile(join(options.home, "admin.token"), "utf8")).trim();
        } catch {
          token = "";
        }
        if (token === "") return sendError(reply, new BelayError("NOT_FOUND", "this server has no admin token file to offer", { details: { reason: "no_token_file" } }));
        return reply.send({ token });
      });
      app.get("/", { config: { role: "public" }, schema: { hide: true } }, serve);
      app.get("/*", { config: { role: "public" }, schema: { hide: true } }, serve);
    },
  };
}
