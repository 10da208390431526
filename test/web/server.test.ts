/**
 * src/server/web.ts without a browser: the bundle at /, the fallback to index.html for the
 * UI's paths, JSON 404s for the server's own paths, no way out of the bundle directory,
 * and no token for anyone: GET /ui/local-token is gone (test/server/sign-in.test.ts tests the sign-in links).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebUi, defaultWebDir } from "../../src/server/web.ts";
import { tempHome } from "../helpers.ts";
import { testServer } from "../server/helpers.ts";
import type { TestServer } from "../server/helpers.ts";

let root: string;
let dir: string;

beforeAll(() => {
  // root/web is the bundle; root/secret.txt must stay out of reach.
  root = mkdtempSync(join(tmpdir(), "belay-webdir-"));
  dir = join(root, "web");
  mkdirSync(join(dir, "assets"), { recursive: true });
  writeFileSync(join(root, "secret.txt"), "TOP-SECRET-CONTENT");
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Belay</title><div id=app></div>");
  writeFileSync(join(dir, "assets", "index-abc123.js"), "console.log('ui')");
  writeFileSync(join(dir, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function server(webDir = dir): Promise<TestServer> {
  const home = tempHome();
  return testServer({ home }, {}, () => ({ extensions: [createWebUi({ dir: webDir })] }));
}

async function get(s: TestServer, url: string, headers: Record<string, string> = {}, remoteAddress = "127.0.0.1") {
  return s.app.inject({ method: "GET", url, headers: { host: "localhost:7420", ...headers }, remoteAddress });
}

describe("web UI assets", () => {
  it("defaults to dist/web of the package", () => {
    expect(defaultWebDir).toBe(fileURLToPath(new URL("../../dist/web/", import.meta.url)));
  });

  it("serves index.html at / with a strict Content-Security-Policy and no caching", async () => {
    const s = await server();
    const res = await get(s, "/");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.body).toContain('<div id=app>');
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("serves hashed assets with a long cache and the right type", async () => {
    const s = await server();
    const js = await get(s, "/assets/index-abc123.js");
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toContain("text/javascript");
    expect(js.headers["cache-control"]).toContain("immutable");
    const svg = await get(s, "/favicon.svg");
    expect(svg.headers["content-type"]).toBe("image/svg+xml");
    expect(svg.headers["cache-control"]).toBe("no-cache");
  });

  it("falls back to index.html for the UI's own paths, so reloads and links work", async () => {
    const s = await server();
    for (const path of ["/jobs/01a1fd6f-cf0f-744d-9d92-4c69287c5428", "/history?status=cancelled", "/cancellations"]) {
      const res = await get(s, path);
      expect(res.statusCode, path).toBe(200);
      expect(res.body).toContain("<div id=app>");
    }
  });

  it("answers the server's own unknown paths and missing files with the JSON 404, never the app", async () => {
    const s = await server();
    for (const path of ["/api/v1/nope", "/api/v2/jobs", "/ui/nope", "/assets/missing.js", "/metrics/extra", "/mcp/x"]) {
      const res = await get(s, path);
      expect(res.statusCode, path).toBe(404);
      expect(res.json().error.code, path).toBe("NOT_FOUND");
    }
    // The API itself is untouched.
    expect((await s.call("viewer", "GET", "/api/v1/jobs")).statusCode).toBe(200);
    expect((await s.call(null, "GET", "/api/v1/jobs")).statusCode).toBe(401);
  });

  it("never serves a file outside the bundle directory", async () => {
    const s = await server();
    for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "/..%5c..%5csecret.txt", "/%00.js"]) {
      const res = await get(s, path);
      expect(res.body, path).not.toContain("TOP-SECRET-CONTENT");
      expect([200, 404], path).toContain(res.statusCode);
    }
    const res = await get(s, "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd");
    expect(res.body).not.toContain("root:");
  });

  it("explains a missing build instead of failing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "belay-webdir-empty-"));
    try {
      const s = await server(empty);
      const res = await get(s, "/");
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain("npm run build:web");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("no token without a sign-in code", () => {
  it("GET /ui/local-token is gone for every peer, loopback included: a JSON 404 with no token in it", async () => {
    const s = await server();
    for (const [address, host] of [
      ["127.0.0.1", "localhost:7420"],
      ["::1", "[::1]:7420"],
      ["10.1.2.3", "localhost:7420"],
    ] as const) {
      const res = await get(s, "/ui/local-token", { host }, address);
      expect(res.statusCode, address).toBe(404);
      expect(res.json().error.code).toBe("NOT_FOUND");
      expect(res.body).not.toContain(s.tokens.admin);
    }
  });

  it("the UI's own paths are not in the OpenAPI document", async () => {
    const s = await server();
    const doc = (await s.call(null, "GET", "/api/v1/openapi.json")).json;
    expect(Object.keys(doc.paths).some((p: string) => p === "/" || p === "/*")).toBe(false);
  });
});
