/** Issue 15's CLI items, each through the real `belay` binary against one real server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCliServer } from "./helpers.ts";
import type { CliServer } from "./helpers.ts";
import { until } from "../helpers.ts";
import { BelayClient } from "../../src/client/client.ts";

let s: CliServer;
beforeAll(async () => {
  s = await startCliServer({ pools: { gpu: 1 } });
});
afterAll(async () => {
  await s.close();
});

describe("belay token list", () => {
  it("shows when each token was last used, written at most once a minute", async () => {
    const { token: secret } = await s.client.createToken({ name: "reader", role: "viewer" });
    const lastUsed = async (): Promise<string | null> => ((await s.client.listTokens()).items.find((t) => t.name === "reader")?.lastUsedAt ?? null);
    expect(await lastUsed()).toBeNull();
    expect((await s.run(["job", "list"], { env: { BELAY_TOKEN: secret } })).code).toBe(0);
    const first = (await until(lastUsed, (at) => at !== null)) ?? "";
    expect(Date.now() - Date.parse(first)).toBeLessThan(60_000);
    const table = await s.run(["token", "list"]);
    expect(table.stdout).toMatch(/reader\s+reader\s+viewer\s+\S+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+active/);
    expect(table.stdout).toMatch(/admin\s+admin\s+admin\s+\S+\s+\d{4}-\d\d-\d\dT/);
    // A second use within the minute does not write again.
    await new BelayClient({ url: s.url, token: secret }).listJobs();
    await new Promise((r) => setTimeout(r, 200));
    expect(await lastUsed()).toBe(first);
  }, 90_000);
});
