/**
 * A job's tree of child jobs on its page (DESIGN §7), in a real Chromium against a real
 * `belay serve`: the child under its parent with its state, the state following a tree
 * cancel, and the child's page linking back to its parent.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureWebBuild, eventually, launchBrowser, noBrowser, signIn, startUiServer, until } from "./helpers.ts";
import type { Browser, UiServer } from "./helpers.ts";
import { skippedIf } from "../optional.ts";

describe("web UI: job tree", skippedIf(noBrowser), () => {
  let ui: UiServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuild();
    ui = await startUiServer();
    browser = await launchBrowser();
    page = await browser.newPage();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
  });

  it("shows the child jobs with their states, following a tree cancel", async () => {
    const { json } = await ui.api("POST", "/jobs", {
      name: "parent",
      graceMs: 2000,
      tasks: [{ key: "sub", kind: "job", job: { name: "child-sleeper", command: ["sleep", "300"] } }],
    });
    const parentId = json.job.id as string;
    const children = await until(async () => (await ui.api("GET", `/jobs?parent=${parentId}`)).json.items, (items: Array<{ id: string; status: string }>) => items[0]?.status === "running");
    const childId = children[0]!.id;

    await signIn(page, ui, ui.adminToken, `/jobs/${parentId}`);
    await page.getByRole("heading", { name: "Child jobs" }).waitFor();
    const childNode = page.locator(`ul.tree li[data-job="${childId}"]`);
    await eventually(() => childNode.getAttribute("data-status")).toBe("running");
    expect(await childNode.locator("a").first().textContent()).toBe("child-sleeper");
    expect(await childNode.textContent()).toContain("from task sub");

    expect((await ui.api("POST", `/jobs/${parentId}/cancel`, { reason: "tree in the ui" })).status).toBe(202);
    await eventually(() => childNode.getAttribute("data-status"), { timeout: 30_000 }).toBe("cancelled");
    await eventually(() => page.locator(`ul.tree li[data-job="${parentId}"]`).getAttribute("data-status"), { timeout: 30_000 }).toBe("cancelled");

    await childNode.locator("a").first().click();
    await page.getByRole("heading", { name: "child-sleeper", level: 1 }).waitFor();
    expect(await page.locator("section.job-tree").textContent()).toContain(`Child of ${parentId}`);
  }, 120_000);
});
