/**
 * Signing in to the web UI in a real Chromium against a real `belay serve`: the printed link
 * signs in with one click (no token pasted, none offered to loopback), the code leaves the
 * address bar, the session token is not the admin token, and the same link a second time is
 * refused with a sentence. `belay ui`'s link (POST /sign-in-codes) signs in as the role asked.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, startUiServer } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";
import { skippedIf } from "../optional.ts";

describe("web UI: sign-in links", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let browser: Browser;

  beforeAll(async () => {
    await ensureWebBuild();
    ui = await startUiServer();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  const storedToken = (page: Page): Promise<string | null> => page.evaluate(() => localStorage.getItem("belay.token"));

  it("the link printed at start signs in with one click; the code leaves the URL; a second use is refused", async () => {
    const page = await browser.newPage();
    // Without a link, the page offers nothing but a token field.
    await page.goto(ui.url);
    await page.getByLabel("API token").waitFor();
    expect(await page.getByRole("button", { name: /admin token/i }).count()).toBe(0);

    await page.goto(ui.signInUrl);
    await eventually(() => page.getByRole("heading", { name: "Jobs", level: 1 }).isVisible()).toBe(true);
    expect(page.url()).toBe(`${ui.url}/`);
    const session = await storedToken(page);
    expect(session).toMatch(/^belay_/);
    expect(session).not.toBe(ui.adminToken);
    // A real token of the store: listed, admin, expiring.
    const tokens = (await ui.api("GET", "/tokens")).json.items as Array<{ name: string; role: string; expiresAt: string | null }>;
    const sessions = tokens.filter((t) => t.name === "web UI session");
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ role: "admin", expiresAt: expect.any(String) });

    // The same link again, in a browser that is signed out: refused, said in words.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.goto(ui.signInUrl);
    await eventually(() => page.getByRole("alert").first().innerText()).toMatch(/already used or has expired/);
    expect(await storedToken(page)).toBeNull();
    expect((await ui.api("GET", "/tokens")).json.items.filter((t: { name: string }) => t.name === "web UI session")).toHaveLength(1);
    await page.close();
  });

  it("a link from `belay ui` (POST /sign-in-codes) signs in as the role it names, replacing the token the browser had", async () => {
    const page = await browser.newPage();
    const made = await ui.api("POST", "/sign-in-codes", { role: "viewer", principal: "vera" });
    expect(made.status).toBe(201);
    await page.goto(`${ui.url}${made.json.path as string}`);
    await eventually(() => page.getByRole("heading", { name: "Jobs", level: 1 }).isVisible()).toBe(true);
    const token = await storedToken(page);
    expect(token).not.toBeNull();
    // The session is a viewer: it reads, it may not submit.
    expect((await ui.api("GET", "/jobs", undefined, token ?? "")).status).toBe(200);
    const submit = await ui.api("POST", "/jobs", { command: ["true"] }, token ?? "");
    expect(submit.status).toBe(403);
    await page.close();
  });
});
