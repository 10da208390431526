/**
 * MCP over Streamable HTTP at `/mcp`, stateless: each POST gets its own MCP server and
 * transport (the SDK's stateless pattern), so nothing is kept between requests and any
 * server behind a load balancer can answer. GET (a standalone event stream) and DELETE
 * (ending a session) have no meaning without sessions: 405, as the MCP spec allows.
 *
 * The route needs a token like any API route (401/403 in Belay's error shape, from the
 * app's hooks); the tools then call the API in-process with the caller's own
 * Authorization header, so every check is exactly the HTTP API's.
 */
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BelayClient } from "../client/client.ts";
import { injectFetch } from "./inject-fetch.ts";
import { createBelayMcpServer } from "./server.ts";

export const mcpPath = "/mcp";

// The least role: any valid token may connect; each tool call is then checked on its own.
const config = { role: "viewer" } as const;

export function registerMcpRoutes(app: FastifyInstance): void {
  app.post(mcpPath, { config, schema: { hide: true } }, async (request, reply) => {
    const client = new BelayClient({ url: "http://belay.inject", token: null, fetch: injectFetch(app, request.headers.authorization ?? "", request.ip) });
    const server = createBelayMcpServer(client);
    // No sessionIdGenerator: stateless. JSON answers rather than an event stream: the tools
    // send no notifications, and a plain answer passes every proxy.
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    reply.hijack();
    reply.raw.on("close", () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body ?? null);
    } catch (error) {
      request.log.error({ err: error }, "MCP request failed");
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "INTERNAL", message: "internal error" } }));
      }
    }
  });

  const notAllowed = async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> =>
    reply
      .code(405)
      .header("allow", "POST")
      .send({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this MCP server is stateless; send every message as a POST" }, id: null });
  app.get(mcpPath, { config, schema: { hide: true } }, notAllowed);
  app.delete(mcpPath, { config, schema: { hide: true } }, notAllowed);
}
