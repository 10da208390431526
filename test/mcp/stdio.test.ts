/** `belay mcp` (stdio), spawned as an agent would, driven by the MCP SDK's client. */
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { expect, it } from "vitest";
import { belayBin, runCli, spawnCli, tempDir } from "../cli/helpers.ts";
import { callTool, describeMcpTools } from "./suite.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

async function connectStdio(url: string, token: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [belayBin, "mcp"],
    cwd: repoRoot,
    // No BELAY_HOME of the checkout: the token must come from BELAY_TOKEN.
    env: { BELAY_URL: url, BELAY_TOKEN: token, BELAY_HOME: tempDir() },
    stderr: "pipe",
  });
  const client = new Client({ name: "belay-test-agent", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

describeMcpTools("stdio", (context, token) => connectStdio(context.server.url, token), (get, connectAs) => {
  it("answers a bad BELAY_TOKEN's calls with UNAUTHENTICATED tool errors", async () => {
    const client = await connectAs("belay_not-a-token");
    const call = await callTool(client, "list_jobs", {});
    expect(call.isError).toBe(true);
    expect(call.data.error.code).toBe("UNAUTHENTICATED");
  });

  it("writes only JSON-RPC to stdout and exits when the agent closes stdin", async () => {
    const child = spawnCli(["mcp"], { BELAY_URL: get().server.url, BELAY_TOKEN: get().tokens.viewer, BELAY_HOME: tempDir() });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout! });
    const received: unknown[] = [];
    const answered = new Promise<void>((resolve) => lines.on("line", (line) => (received.push(JSON.parse(line)), resolve())));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } };
    child.stdin?.write(`${JSON.stringify(initialize)}\n`);
    await answered;
    child.stdin?.end();
    expect(await exited).toBe(0);
    expect(received).toEqual([expect.objectContaining({ jsonrpc: "2.0", id: 1, result: expect.objectContaining({ serverInfo: expect.objectContaining({ name: "belay" }) }) })]);
    expect(stderr).toMatch(/belay mcp: serving/);
  });

  it("refuses to start without a token, saying why on stderr", async () => {
    const result = await runCli(["mcp"], { BELAY_URL: get().server.url, BELAY_TOKEN: "", BELAY_HOME: tempDir() });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/UNAUTHENTICATED/);
  });
});
