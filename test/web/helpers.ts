/**
 * Browser tests of the web UI: a real `startServer` on a free port and a temporary home,
 * driven by Debian's Chromium through playwright-core (never a downloaded browser).
 * Screenshots go to test-artifacts/web/ (gitignored).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { pino } from "pino";
import { expect } from "vitest";
import { startServer } from "../../src/server/serve.ts";
import type { RunningServer, ServeOptions } from "../../src/server/serve.ts";

export const chromiumPath = process.env["BELAY_TEST_CHROMIUM"] ?? "/usr/bin/chromium";
export const haveChromium = existsSync(chromiumPath);
/** CI sets this: a missing browser is then a failure, not a skipped suite. */
export const browserRequired = process.env["BELAY_TEST_BROWSER_REQUIRED"] === "1";
/** Why the browser tests cannot run here, or null (always null when required: a missing browser then fails them). */
export const noBrowser: string | null = haveChromium || browserRequired ? null : `no Chromium at ${chromiumPath} (apt-get install -y chromium, or set BELAY_TEST_CHROMIUM)`;

const repo = fileURLToPath(new URL("../../", import.meta.url));
const webSrc = join(repo, "src/web");
const webOut = join(repo, "dist/web");
export const artifacts = join(repo, "test-artifacts/web");

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function upToDate(): boolean {
  const index = join(webOut, "index.html");
  if (!existsSync(index)) return false;
  // The bundle takes src/client and src/core too (the UI uses the one HTTP client).
  const sources = [webSrc, join(repo, "src/client"), join(repo, "src/core")].map(newest);
  return statSync(index).mtimeMs >= Math.max(...sources, statSync(join(repo, "vite.config.ts")).mtimeMs);
}

/**
 * The server serves dist/web: build it when it is missing or older than src/web, so the
 * tests always drive the current sources. A lock directory keeps parallel test files from
 * building at once.
 */
export async function ensureWebBuild(): Promise<void> {
  if (upToDate()) return;
  mkdirSync(join(repo, "dist"), { recursive: true });
  const lock = join(repo, "dist/.web-build.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for two minutes; remove it if no build is running`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (upToDate()) return;
    const { build } = await import("vite");
    await build({ configFile: join(repo, "vite.config.ts"), logLevel: "error" });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface UiServer {
  server: RunningServer;
  url: string;
  home: string;
  adminToken: string;
  /** The one-time sign-in link the server printed at start (on `localhost`, as a person would open it). */
  signInUrl: string;
  /** The API with the admin token (or another); throws on a network error only. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read field by field
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startUiServer(options: ServeOptions = {}): Promise<UiServer> {
  const home = mkdtempSync(join(tmpdir(), "belay-web-"));
  const server = await startServer({ home, port: 0, logger: pino({ level: "silent" }), pollIntervalMs: 20, ...options });
  const adminToken = readFileSync(join(home, "admin.token"), "utf8").trim();
  // Opened as "localhost", as a person would type it (the origin of localStorage).
  const url = server.url.replace("127.0.0.1", "localhost");
  return {
    server,
    url,
    signInUrl: server.signInUrl.replace("127.0.0.1", "localhost"),
    home,
    adminToken,
    async api(method, path, body, token = adminToken) {
      const res = await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, json: text === "" ? null : JSON.parse(text) };
    },
    async close() {
      await server.close({ graceMs: 200 });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface Browser {
  context: BrowserContext;
  /** Errors the pages reported (uncaught exceptions, CSP violations, console errors other than failed requests). */
  errors: string[];
  newPage(width?: number): Promise<Page>;
  close(): Promise<void>;
}

export const wide = { width: 1280, height: 900 };
export const narrow = { width: 390, height: 844 };

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "belay-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    viewport: wide,
    // en-US writes times as "9:44:37 PM" by default: the UI must still show one 24-hour format.
    locale: "en-US",
    reducedMotion: "reduce",
    timeout: 30_000,
  });
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
    page.on("console", (msg) => {
      // A 4xx answer the UI explains in words still logs "Failed to load resource" in Chromium.
      if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) errors.push(`console: ${msg.text()}`);
    });
  };
  context.on("page", watch);
  context.pages().forEach(watch);
  return {
    context,
    errors,
    async newPage(width = wide.width) {
      const page = await context.newPage();
      await page.setViewportSize(width === wide.width ? wide : { ...narrow, width });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A full-page screenshot at test-artifacts/web/<name>-<width>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  const width = page.viewportSize()?.width ?? 0;
  await page.screenshot({ path: join(artifacts, `${name}-${width}.png`), fullPage: true });
}

/** Both widths of one page, then back to the wide one. */
export async function screenshotBoth(page: Page, name: string, settle: () => Promise<void> = async () => undefined): Promise<void> {
  await page.setViewportSize(wide);
  await settle();
  await screenshot(page, name);
  await page.setViewportSize(narrow);
  await settle();
  await page.waitForTimeout(150);
  // Nothing may stick out sideways at phone width (wide parts scroll inside their own box).
  const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
  if (overflow > 0) throw new Error(`${name}: the page is ${overflow}px wider than the ${narrow.width}px viewport`);
  await screenshot(page, name);
  await page.setViewportSize(wide);
}

/** What has the keyboard focus (page scripts as strings: the tests' TypeScript has no DOM types). */
export async function focused(page: Page): Promise<{ tag: string | null; id: string | null; text: string | null; inDialog: boolean }> {
  return (await page.evaluate(
    `(() => { const e = document.activeElement; return { tag: e?.tagName ?? null, id: e?.id || null, text: e?.textContent ?? null, inDialog: e?.closest("dialog") != null }; })()`,
  )) as { tag: string | null; id: string | null; text: string | null; inDialog: boolean };
}

/** Sign a page in by storing the token the UI would keep after a paste. */
export async function signIn(page: Page, ui: UiServer, token = ui.adminToken, path = "/"): Promise<void> {
  await page.goto(`${ui.url}/ui-not-a-page`);
  await page.evaluate((t) => localStorage.setItem("belay.token", t), token);
  await page.goto(`${ui.url}${path}`);
}

export async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A shell loop that reports progress (with an `energy` converging) and stops cleanly ~0.6 s after SIGTERM. */
export function convergingCommand(seconds = 60): string[] {
  const steps = seconds * 5;
  return [
    "sh",
    "-c",
    `trap 'echo "got SIGTERM, saving state"; sleep 0.6; echo "state saved"; exit 0' TERM
i=0
while [ $i -lt ${steps} ]; do
  i=$((i+1))
  e=$(awk "BEGIN { printf \\"%.5f\\", -1.0 - 0.5 * (1 - exp(-$i / 12)) }")
  echo "BELAY_PROGRESS {\\"ratio\\": $(awk "BEGIN { print $i / ${steps} }"), \\"message\\": \\"iteration $i\\", \\"iteration\\": $i, \\"energy\\": $e}"
  echo "iteration $i energy $e"
  sleep 0.2
done`,
  ];
}

/** `expect.poll` with a timeout fit for a browser and a server (vitest's default is 1 s). */
export function eventually<T>(read: () => Promise<T> | T, options: { timeout?: number; interval?: number } = {}) {
  return expect.poll(read, { timeout: options.timeout ?? 10_000, interval: options.interval ?? 50 });
}
