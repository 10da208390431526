/** One MCP server exposing the Belay tools through a client that carries the caller's token. */
import { readFileSync } from "node:fs";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { BelayClient } from "../client/client.ts";
import { registerBelayTools } from "./tools.ts";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** Shown to the agent when it connects, before it reads any tool. */
const instructions =
  "Belay runs long jobs (commands, task graphs) and stops them reliably. Submit with submit_job, follow with get_job_status, " +
  "stop with cancel_job or cancel_task. Jobs and cancellations are asynchronous: after submit_job or cancel_job, call get_job_status " +
  "every few seconds until terminal is true. get_cancellation_status tells what a cancellation did, step by step.";

export function createBelayMcpServer(client: BelayClient): McpServer {
  const server = new McpServer({ name: "belay", version }, { instructions });
  registerBelayTools(server, client);
  return server;
}
