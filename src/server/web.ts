/**
 * The web UI (docs/web-ui.md): the Vite bundle in `dist/web` served at `/`, with a fallback
 * to `index.html` for the UI's own paths (`/jobs/<id>`, `/history`, …) so a reload or a
 * shared link works. The UI talks to `/api/v1` from the same origin with a bearer token.
 *
 * Signing in is src/server/sign-in.ts: the UI trusts no address, loopback included, and gets
 * a token only from a one-time sign-in link. (The former `GET /ui/local-token`, which handed
 * the admin token to any loopback peer, is gone: other OS users, `ssh -L` and port forwards
 * are loopback peers too.)
 */
import { readFile, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ServerExtensions } from "./extensions.ts";

export interface WebUiOptions {
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

function notBuiltPage(dir: string): string {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Belay</title>
<body>
<h1>The Belay web UI is not built</h1>
<p>No <code>index.html</code> in <code>${dir.replaceAll("<", "&lt;")}</code>. Build it with <code>npm run build:web</code>
(<code>npm install</code> runs it). The API at <code>/api/v1</code> works without it.</p></body></html>`;
}

export function createWebUi(options: WebUiOptions = {}): ServerExtensions {
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
      app.get("/", { config: { role: "public" }, schema: { hide: true } }, serve);
      app.get("/*", { config: { role: "public" }, schema: { hide: true } }, serve);
    },
  };
}
