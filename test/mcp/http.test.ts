/** MCP over Streamable HTTP at /mcp, driven by the MCP SDK's client against a real server. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { expect, it } from "vitest";
import { describeMcpTools } from "./suite.ts";

function transportTo(url: string, token: string | null): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL("/mcp", url), token === null ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } });
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } } };

describeMcpTools(
  "Streamable HTTP",
  async (context, token) => {
    const client = new Client({ name: "belay-test-agent", version: "1.0.0" });
    await client.connect(transportTo(context.server.url, token));
    return client;
  },
  (get) => {
    it("answers /mcp without a valid token with 401 in Belay's error shape", async () => {
      const post = (headers: Record<string, string>): Promise<Response> =>
        fetch(new URL("/mcp", get().server.url), {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
          body: JSON.stringify(initialize),
        });
      for (const response of [await post({}), await post({ authorization: "Bearer belay_not-a-token" })]) {
        expect(response.status).toBe(401);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHENTICATED");
      }
      const get401 = await fetch(new URL("/mcp", get().server.url));
      expect(get401.status).toBe(401);

      // The SDK's client sees the refusal too.
      const client = new Client({ name: "no-token", version: "1.0.0" });
      await expect(client.connect(transportTo(get().server.url, null))).rejects.toThrow(/401|Unauthorized|UNAUTHENTICATED/);
    });

    it("is stateless: a valid token's GET and DELETE are 405, and a POST needs no session", async () => {
      const authorization = `Bearer ${get().tokens.viewer}`;
      for (const method of ["GET", "DELETE"]) {
        const response = await fetch(new URL("/mcp", get().server.url), { method, headers: { authorization } });
        expect(response.status).toBe(405);
      }
      const response = await fetch(new URL("/mcp", get().server.url), {
        method: "POST",
        headers: { authorization, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("mcp-session-id")).toBeNull();
      const body = (await response.json()) as { result: { tools: Array<{ name: string }> } };
      expect(body.result.tools).toHaveLength(10);
    });
  },
);
