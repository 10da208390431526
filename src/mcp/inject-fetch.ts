/**
 * A `fetch` answered by the Fastify app itself (`app.inject`), with the caller's
 * Authorization header on every request: the tools of an MCP request over HTTP call the
 * HTTP API in-process, so every token, role and validation check is the API's own.
 */
import type { FastifyInstance, InjectOptions } from "fastify";

export function injectFetch(app: FastifyInstance, authorization: string, remoteAddress: string): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    headers["authorization"] = authorization;
    const response = await app.inject({
      method: (init?.method ?? "GET") as NonNullable<InjectOptions["method"]>,
      url: `${url.pathname}${url.search}`,
      headers,
      remoteAddress,
      ...(typeof init?.body === "string" ? { payload: init.body } : {}),
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) responseHeaders.append(name, String(item));
    }
    // A Response with status 204 or 304 may not have a body, not even an empty one.
    const body = response.statusCode === 204 || response.statusCode === 304 ? null : response.body;
    return new Response(body, { status: response.statusCode, headers: responseHeaders });
  };
}
