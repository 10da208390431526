/**
 * What a Belay tool answers over MCP. A success carries its value twice, as structured
 * content and as its JSON text (clients that read only text see the same thing); a failure
 * is a tool error (`isError: true`), not a protocol error, so the agent reads it and can act
 * on it: text `CODE: message` and structured content `{error: {code, message, details?}}`,
 * the very error body the HTTP API answered.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BelayApiError, BelayNetworkError } from "../client/errors.ts";

export interface ToolErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export function toolResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

export function toolError(error: unknown): CallToolResult {
  const body = errorBody(error);
  return { isError: true, content: [{ type: "text", text: `${body.code}: ${body.message}` }], structuredContent: { error: body } };
}

function errorBody(error: unknown): ToolErrorBody {
  if (error instanceof BelayApiError) {
    return error.details === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, details: error.details };
  }
  if (error instanceof BelayNetworkError) return { code: error.code, message: error.message };
  // Not an answer of the API: a bug of ours. Say so without a stack trace.
  return { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) };
}

/** Run a tool's body: its value as a result, anything it throws as a tool error. */
export async function runTool(body: () => Promise<Record<string, unknown>>): Promise<CallToolResult> {
  try {
    return toolResult(await body());
  } catch (error) {
    return toolError(error);
  }
}
