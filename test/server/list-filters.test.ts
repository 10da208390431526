/**
 * GET /jobs: the `name` substring and the `createdAfter` / `createdBefore` filters the web
 * UI's search and time range use, and GET /whoami, which tells the UI the caller's role.
 */
import { describe, expect, it } from "vitest";
import { testServer } from "./helpers.ts";

describe("GET /api/v1/jobs filters: name, createdAfter, createdBefore", () => {
  it("matches a case-insensitive substring of the name, with % and _ taken literally", async () => {
    const s = await testServer({ concurrency: 0 });
    for (const name of ["Nightly-Train", "nightly_eval", "weekly report", "100% done"]) {
      expect((await s.call("admin", "POST", "/api/v1/jobs", { name, command: ["true"] })).statusCode).toBe(201);
    }
    const names = async (query: string): Promise<string[]> => ((await s.call("viewer", "GET", `/api/v1/jobs?${query}`)).json.items as Array<{ name: string }>).map((j) => j.name).sort();
    expect(await names("name=NIGHTLY")).toEqual(["Nightly-Train", "nightly_eval"]);
    expect(await names("name=ly_")).toEqual(["nightly_eval"]);
    expect(await names(`name=${encodeURIComponent("%")}`)).toEqual(["100% done"]);
    expect(await names("name=nothing-like-it")).toEqual([]);
  });

  it("keeps jobs created inside the time range, and refuses a time that is not ISO 8601 with a sentence", async () => {
    const s = await testServer({ concurrency: 0 });
    const first = (await s.call("admin", "POST", "/api/v1/jobs", { name: "old", command: ["true"] })).json.job;
    await new Promise((r) => setTimeout(r, 20));
    const second = (await s.call("admin", "POST", "/api/v1/jobs", { name: "new", command: ["true"] })).json.job;
    const list = async (query: string): Promise<string[]> => ((await s.call("viewer", "GET", `/api/v1/jobs?${query}`)).json.items as Array<{ name: string }>).map((j) => j.name);
    expect(await list(`createdAfter=${encodeURIComponent(second.createdAt)}`)).toEqual(["new"]);
    expect(await list(`createdBefore=${encodeURIComponent(second.createdAt)}`)).toEqual(["old"]);
    // An offset time means the same instant.
    const shifted = new Date(Date.parse(first.createdAt)).toISOString().replace("Z", "+00:00");
    expect(await list(`createdAfter=${encodeURIComponent(shifted)}&createdBefore=${encodeURIComponent(second.createdAt)}`)).toEqual(["old"]);
    const bad = await s.call("viewer", "GET", "/api/v1/jobs?createdAfter=yesterday");
    expect(bad.statusCode).toBe(400);
    expect(bad.json.error.code).toBe("INVALID_REQUEST");
    expect(bad.json.error.message).toContain("createdAfter: \"yesterday\" is not an ISO 8601 time");
    expect((await s.call("viewer", "GET", "/api/v1/jobs?createdAfter=2026-13-45T99:00:00Z")).statusCode).toBe(400);
  });
});

describe("GET /api/v1/whoami", () => {
  it("answers the calling token's principal and role, and nothing without a token", async () => {
    const s = await testServer({ concurrency: 0 });
    expect((await s.call("viewer", "GET", "/api/v1/whoami")).json).toEqual({ principal: "vera", role: "viewer" });
    expect((await s.call("operator", "GET", "/api/v1/whoami")).json).toEqual({ principal: "oscar", role: "operator" });
    expect((await s.call("admin", "GET", "/api/v1/whoami")).json.role).toBe("admin");
    expect((await s.call(null, "GET", "/api/v1/whoami")).statusCode).toBe(401);
  });
});
