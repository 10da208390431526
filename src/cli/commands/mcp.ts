/**
 * `belay mcp`: serve the Belay tools to an AI agent over MCP on stdio (docs/mcp.md). The
 * agent spawns the command; it talks to the server at --url / BELAY_URL with --token /
 * BELAY_TOKEN (else the admin token file), so the token's role is checked on every call.
 */
import type { Command } from "commander";
import { serveStdio } from "../../mcp/stdio.ts";
import { context } from "../config.ts";
import { notice } from "../output.ts";

export function registerMcp(program: Command): void {
  program
    .command("mcp")
    .description("serve the Belay tools to an AI agent over MCP (Model Context Protocol) on stdin/stdout")
    .action(async (_options: unknown, command: Command) => {
      const ctx = context(command);
      // stdout carries the protocol only: anything for people goes to stderr.
      notice(`belay mcp: serving the Belay tools on stdio for ${ctx.url}`);
      await serveStdio(ctx.client);
    });
}
