/**
 * Errors raised before a request reaches a route, answered in Belay's error shape like every
 * other error (Fastify's defaults answer them in a shape of its own):
 * - `frameworkErrors`: a URL the router cannot decode (`/jobs/%u0041`), a path parameter
 *   over the router's length limit;
 * - `clientErrorHandler`: bytes Node's HTTP parser refuses (a broken request line, headers
 *   over the size limit, bad framing). These are answered 400 `INVALID_REQUEST`: Belay's codes
 *   have no 408 or 431, and the message says what was wrong. The connection is then closed.
 */
import type { Socket } from "node:net";
import type { FastifyReply, FastifyRequest } from "fastify";
import { BelayError } from "../core/errors.ts";
import { sendError, toBelayError } from "./errors.ts";

export function frameworkErrors(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, toBelayError(error));
}

function clientErrorMessage(code: string | undefined): string {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return "request headers are too large";
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return "the request was not received in time";
    default:
      return "malformed HTTP request";
  }
}

export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  if (socket.writable) {
    const body = JSON.stringify({ error: new BelayError("INVALID_REQUEST", clientErrorMessage(error.code)).toJSON() });
    socket.write(`HTTP/1.1 400 Bad Request\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
