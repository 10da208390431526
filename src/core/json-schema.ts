/**
 * The request contract's validator: a small interpreter of the JSON Schema subset the contract
 * uses (src/core/requests.ts). The same schema objects are Fastify's route schemas and the
 * OpenAPI document, so what a request may be is written once, as data, and checked once,
 * here, by the library and the HTTP API alike, with one wording for each kind of mistake.
 *
 * Lengths are counted in characters, meaning Unicode code points (as JSON Schema's
 * `maxLength` and Ajv count them): 1000 emoji are 1000 characters, not 2000.
 */
import { invalid } from "./errors.ts";

export type JsonType = "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";

export interface JsonSchema {
  readonly type?: JsonType | readonly JsonType[];
  /** What a value of this schema is, in words; a string that fails `pattern` is said to be "not a <title>". */
  readonly title?: string;
  readonly description?: string;
  readonly properties?: { readonly [key: string]: JsonSchema };
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly maxItems?: number;
  readonly enum?: readonly (string | number | boolean | null)[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly format?: "date-time";
  readonly anyOf?: readonly JsonSchema[];
  readonly default?: unknown;
  readonly $ref?: string;
}

export interface ValidateOptions {
  /**
   * Query strings and path parameters arrive as text: read "12" as 12 and "true" as true
   * where the schema wants a number or a boolean, and a lone value as a one-item array.
   */
  coerce?: boolean;
  /** Fill in each missing property that has a `default`. */
  applyDefaults?: boolean;
  /** Where the value came from (`body`, `querystring`, `params`), kept in the error's details. */
  part?: string;
}

/** The number of characters of a string, counted as Unicode code points. */
export function characterCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

class Mismatch {
  readonly field: string;
  readonly problem: string;
  constructor(field: string, problem: string) {
    this.field = field;
    this.problem = problem;
  }
}

function typesOf(schema: JsonSchema): readonly JsonType[] | null {
  if (schema.type === undefined) return null;
  return typeof schema.type === "string" ? [schema.type] : schema.type;
}

function typeOfValue(value: unknown): JsonType {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value as JsonType;
}

const typeWords: Record<JsonType, string> = {
  object: "a JSON object",
  array: "an array",
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean (true or false)",
  null: "null",
};

function matchesType(types: readonly JsonType[], value: unknown): boolean {
  const actual = typeOfValue(value);
  return types.includes(actual) || (actual === "integer" && types.includes("number"));
}

function coerceScalar(types: readonly JsonType[], value: unknown): unknown {
  if (typeof value !== "string") return value;
  if ((types.includes("integer") || types.includes("number")) && /^-?\d+(\.\d+)?$/.test(value)) {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  if (types.includes("boolean") && (value === "true" || value === "false")) return value === "true";
  return value;
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function rangeWords(schema: JsonSchema, noun: string): string {
  const { minimum: min, maximum: max } = schema;
  if (min !== undefined && max !== undefined) return `must be ${noun} from ${min} to ${max}`;
  if (min !== undefined) return `must be ${noun} of at least ${min}`;
  return `must be ${noun} of at most ${max}`;
}

function check(schema: JsonSchema, input: unknown, path: string, options: ValidateOptions): unknown {
  if (schema.anyOf !== undefined) return checkAnyOf(schema, input, path, options);
  let value = input;
  const types = typesOf(schema);
  if (types !== null) {
    if (options.coerce === true) {
      value = coerceScalar(types, value);
      if (types.includes("array") && !Array.isArray(value) && value !== undefined) value = [value];
    }
    if (!matchesType(types, value)) throw new Mismatch(path, `must be ${types.map((t) => typeWords[t]).join(" or ")}`);
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as string)) {
    throw new Mismatch(path, `must be one of ${schema.enum.join(", ")}, not ${JSON.stringify(value)}`);
  }
  if (typeof value === "number") {
    if ((schema.minimum !== undefined && value < schema.minimum) || (schema.maximum !== undefined && value > schema.maximum)) {
      throw new Mismatch(path, rangeWords(schema, types?.includes("integer") === true ? "an integer" : "a number"));
    }
  } else if (typeof value === "string") {
    checkString(schema, value, path);
  } else if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      throw new Mismatch(path, `has ${value.length} items, more than the limit of ${schema.maxItems}`);
    }
    if (schema.items !== undefined) {
      const items = schema.items;
      value = value.map((item, i) => check(items, item, `${path}[${i}]`, options));
    }
  } else if (typeof value === "object" && value !== null) {
    value = checkObject(schema, value as Record<string, unknown>, path, options);
  }
  return value;
}

function checkString(schema: JsonSchema, value: string, path: string): void {
  if (schema.minLength !== undefined || schema.maxLength !== undefined) {
    const count = characterCount(value);
    if (schema.minLength !== undefined && count < schema.minLength) {
      throw new Mismatch(path, schema.minLength === 1 ? "must not be empty" : `must be at least ${schema.minLength} characters long, not ${count}`);
    }
    if (schema.maxLength !== undefined && count > schema.maxLength) {
      throw new Mismatch(path, `must be at most ${schema.maxLength} characters long, not ${count} (characters are Unicode code points)`);
    }
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
    throw new Mismatch(path, schema.title === undefined ? `must match ${schema.pattern}` : `not a ${schema.title}`);
  }
  if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) {
    throw new Mismatch(path, "must be an ISO-8601 date-time, e.g. 2026-01-31T12:00:00Z");
  }
}

function checkObject(schema: JsonSchema, value: Record<string, unknown>, path: string, options: ValidateOptions): Record<string, unknown> {
  const properties = schema.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const key of schema.required ?? []) {
    if (value[key] === undefined) throw new Mismatch(join(path, key), "required");
  }
  for (const [key, item] of Object.entries(value)) {
    const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (property !== undefined) {
      if (item !== undefined) out[key] = check(property, item, join(path, key), options);
      continue;
    }
    const extra = schema.additionalProperties;
    if (extra === false) throw new Mismatch(join(path, key), `unknown field "${key}"`);
    out[key] = typeof extra === "object" ? check(extra, item, join(path, key), options) : item;
  }
  if (options.applyDefaults === true) {
    for (const [key, property] of Object.entries(properties)) {
      if (out[key] === undefined && property.default !== undefined) out[key] = property.default;
    }
  }
  return out;
}

/** The first branch the value satisfies; otherwise the complaint of the branch of the value's own type. */
function checkAnyOf(schema: JsonSchema, value: unknown, path: string, options: ValidateOptions): unknown {
  const branches = schema.anyOf ?? [];
  let closest: Mismatch | null = null;
  for (const branch of branches) {
    try {
      return check(branch, value, path, options);
    } catch (error) {
      if (!(error instanceof Mismatch)) throw error;
      const types = typesOf(branch);
      if (closest === null || (types !== null && matchesType(types, value))) closest = error;
    }
  }
  throw closest ?? new Mismatch(path, "is invalid");
}

/**
 * `value` checked against `schema`: the value (coerced and with defaults, as asked), or an
 * INVALID_REQUEST error `<field>: <what is wrong>` with `details.field`.
 */
export function validate(schema: JsonSchema, value: unknown, options: ValidateOptions = {}): unknown {
  try {
    return check(schema, value, "", options);
  } catch (error) {
    if (!(error instanceof Mismatch)) throw error;
    const where = options.part === undefined ? {} : { in: options.part };
    const subject = error.field === "" ? (options.part === "body" ? "the request body" : (options.part ?? "the request")) : error.field;
    throw invalid(`${subject}: ${error.problem}`, { field: error.field, ...where });
  }
}
