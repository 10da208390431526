/**
 * The HTTP side of the contract: the request and response schemas are src/core's
 * (requests.ts, responses.ts), declared once; here is only which error answers every
 * authenticated route may give, for the OpenAPI document.
 */
export { sharedSchemas } from "../core/responses.ts";
export { uuidPattern } from "../core/requests.ts";

/** Responses every authenticated route can give besides its own. */
export const errorResponses = {
  400: { $ref: "Error#" },
  401: { $ref: "Error#" },
  403: { $ref: "Error#" },
  404: { $ref: "Error#" },
  409: { $ref: "Error#" },
  429: { $ref: "Error#" },
} as const;
