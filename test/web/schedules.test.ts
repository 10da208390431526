/**
 * The Schedules view (DESIGN §7) in a real browser: each schedule with its next run time,
 * Pause and Resume that the server then reports, and the queues with their paused state.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skippedIf } from "../optional.ts";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, screenshotBoth, signIn, startUiServer } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";

describe("web UI: schedules", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuild();
    ui = await startUiServer();
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  it("lists schedules with their next run; Pause and Resume change what the server says; queues show their state", async () => {
    const created = await ui.api("POST", "/schedules", { name: "nightly-etl", cron: "0 2 * * *", timeZone: "Europe/Oslo", overlap: "cancel_previous", job: { name: "etl", queue: "etl", command: ["true"] } });
    expect(created.status).toBe(201);
    const id = created.json.schedule.id as string;
    await ui.api("POST", "/queues/etl/pause", { reason: "migration" });
    await signIn(page, ui, ui.adminToken, "/schedules");
    await page.getByRole("heading", { name: "Schedules", level: 1 }).waitFor();
    const row = page.locator(`tr[data-schedule="${id}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain("0 2 * * *");
    expect(await row.innerText()).toContain("Europe/Oslo");
    expect(await row.innerText()).toContain("cancel the previous run");
    // The next run, as the server computed it, in the page's time format, with how far off it is.
    await eventually(() => row.locator(".next-run").innerText()).toMatch(/\(in \d+/);
    const queue = page.locator('tr[data-queue="etl"]');
    await eventually(() => queue.getAttribute("data-paused")).toBe("true");
    expect(await queue.innerText()).toContain("migration");
    await screenshotBoth(page, "schedules");

    await row.getByRole("button", { name: "Pause nightly-etl" }).click();
    await eventually(() => row.getAttribute("data-paused")).toBe("true");
    expect((await ui.api("GET", `/schedules/${id}`)).json.schedule).toMatchObject({ paused: true, nextRunAt: null });
    await row.getByRole("button", { name: "Resume nightly-etl" }).click();
    await eventually(() => row.getAttribute("data-paused")).toBe("false");
    expect((await ui.api("GET", `/schedules/${id}`)).json.schedule.paused).toBe(false);

    await queue.getByRole("button", { name: "Resume queue etl" }).click();
    // Resumed and empty, the queue is no longer listed (a queue is known by its tasks or its pause).
    await eventually(() => queue.count()).toBe(0);
    expect((await ui.api("GET", "/queues")).json.items.filter((q: { name: string; paused: boolean }) => q.name === "etl" && q.paused)).toEqual([]);
  }, 90_000);

  it("reported no page errors", () => {
    expect(browser.errors).toEqual([]);
  });
});
