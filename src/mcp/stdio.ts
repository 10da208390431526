/**
 * `belay mcp`: the Belay tools on stdin/stdout for an agent that spawns the command. Only
 * MCP's JSON-RPC messages go to stdout. The client carries the token given to the command
 * (BELAY_TOKEN), so the server checks it on every call as it checks any HTTP request.
 */
import type { Readable, Writable } from "node:stream";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { BelayClient } from "../client/client.ts";
import { createBelayMcpServer } from "./server.ts";

/** Serve until stdin ends (the agent closed its side), then resolve. */
export async function serveStdio(client: BelayClient, stdin: Readable = process.stdin, stdout: Writable = process.stdout): Promise<void> {
  const server = createBelayMcpServer(client);
  // The SDK's stdio transport does not watch for the end of its input: without this the
  // command would outlive the agent that started it.
  const ended = new Promise<void>((resolve) => {
    stdin.once("end", resolve);
    stdin.once("close", resolve);
  });
  await server.connect(new StdioServerTransport(stdin, stdout));
  await ended;
  await server.close();
}
