/**
 * fast-check arbitraries from JSON Schemas (the subset the OpenAPI document uses: type,
 * enum, pattern, min/max, lengths, items, properties, required, additionalProperties,
 * anyOf): values that satisfy a schema, values that break it in one place, and anything at all.
 */
import fc from "fast-check";

export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: Schema;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  anyOf?: Schema[];
}

/** Strings that have broken parsers before: empty, blanks, NUL, escapes, numbers-as-text, other scripts. */
export const nastyString: fc.Arbitrary<string> = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "\t\n\r",
  "%",
  "%00",
  "%ZZ",
  "../../etc/passwd",
  "null",
  "true",
  "-1",
  "1e309",
  "NaN",
  "__proto__",
  "constructor",
  "{}",
  "[]",
  '"',
  "\\",
  "\uFFFF",
  "\uD800",
  "😀",
  "é",
  "ﬀ",
  "\u202E",
  "a".repeat(10_000),
);

/**
 * Any code point, lone surrogates included (as `unit: "binary"`, whose first use maps the
 * whole code-point range, seconds of CPU).
 */
export const binaryChar: fc.Arbitrary<string> = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));

export const anyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string(), weight: 3 },
  { arbitrary: fc.string({ unit: binaryChar }), weight: 2 },
  { arbitrary: nastyString, weight: 2 },
);

/** Any JSON value, including the awkward ones (deep, big numbers, odd keys). */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  { arbitrary: fc.constantFrom(null, 0, -1, 1.5, 2 ** 53, -(2 ** 63), true, false, "", [], {}), weight: 2 },
  { arbitrary: anyString, weight: 1 },
  { arbitrary: fc.dictionary(fc.constantFrom("__proto__", "constructor", "prototype", "toString"), fc.jsonValue({ maxDepth: 1 })), weight: 1 },
);

function types(schema: Schema): string[] {
  if (schema.type === undefined) return [];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

/** Values valid against `schema` (`overrides` replace the arbitrary of a property by name). */
export function validValue(schema: Schema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map((s) => validValue(s, overrides)));
  const kinds = types(schema);
  if (kinds.length === 0) return anyJson;
  return fc.oneof(...kinds.map((kind) => validOfType(kind, schema, overrides)));
}

function validOfType(kind: string, schema: Schema, overrides: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  switch (kind) {
    case "string": {
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern));
      const minLength = schema.minLength ?? 0;
      const maxLength = Math.min(schema.maxLength ?? 200, 200);
      const edge = schema.maxLength === undefined ? [] : [fc.string({ minLength: schema.maxLength, maxLength: schema.maxLength })];
      return fc.oneof(fc.string({ minLength, maxLength }), fc.string({ unit: binaryChar, minLength, maxLength }), ...edge);
    }
    case "integer": {
      const min = schema.minimum ?? -(2 ** 31);
      const max = schema.maximum ?? 2 ** 31;
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true, ...(schema.minimum === undefined ? {} : { min: schema.minimum }), ...(schema.maximum === undefined ? {} : { max: schema.maximum }) });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const items = schema.items === undefined ? anyJson : validValue(schema.items, overrides);
      const maxLength = Math.min(schema.maxItems ?? 5, 5);
      return schema.uniqueItems === true ? fc.uniqueArray(items, { maxLength, selector: (v) => JSON.stringify(v) }) : fc.array(items, { maxLength });
    }
    case "object": {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, sub] of Object.entries(props)) record[name] = overrides[name] ?? validValue(sub, overrides);
      const known = fc.record(record, { requiredKeys: [...required].filter((k) => k in record) });
      if (schema.additionalProperties === false || Object.keys(props).length > 0) return known;
      return fc.oneof(known, fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 4 }));
    }
    default:
      return anyJson;
  }
}

/** Values that break `schema` in one place: wrong type, out of range, too long, bad pattern, unknown or missing field. */
export function invalidValue(schema: Schema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  const kinds = types(schema);
  const options: fc.Arbitrary<unknown>[] = [];
  const wrongType = fc.oneof(
    ...[
      ["string", anyString],
      ["integer", fc.integer()],
      ["number", fc.double()],
      ["boolean", fc.boolean()],
      ["null", fc.constant(null)],
      ["array", fc.array(anyJson, { maxLength: 3 })],
      ["object", fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 })],
    ]
      .filter(([kind]) => !kinds.includes(kind as string) && !(kind === "integer" && kinds.includes("number")))
      .map(([, arb]) => arb as fc.Arbitrary<unknown>),
  );
  if (kinds.length > 0) options.push(wrongType);
  if (schema.enum !== undefined) options.push(anyString.filter((s) => !schema.enum?.includes(s)));
  if (schema.pattern !== undefined) {
    const re = new RegExp(schema.pattern);
    options.push(anyString.filter((s) => !re.test(s)));
  }
  if (schema.maxLength !== undefined) options.push(fc.string({ minLength: schema.maxLength + 1, maxLength: schema.maxLength + 50 }));
  if (schema.minLength !== undefined && schema.minLength > 0) options.push(fc.constant(""));
  if (kinds.includes("integer") || kinds.includes("number")) {
    if (schema.minimum !== undefined) options.push(fc.constantFrom(schema.minimum - 1, schema.minimum - 0.5, -1e308));
    if (schema.maximum !== undefined) options.push(fc.constantFrom(schema.maximum + 1, 1e308));
    if (kinds.includes("integer")) options.push(fc.constantFrom(0.5, 1.000001, 2 ** 64));
  }
  if (kinds.includes("array") && schema.items !== undefined) {
    const items = schema.items;
    options.push(fc.array(invalidValue(items), { minLength: 1, maxLength: 3 }));
    if (schema.maxItems !== undefined && schema.maxItems <= 50) options.push(fc.array(validValue(items), { minLength: schema.maxItems + 1, maxLength: schema.maxItems + 3 }));
  }
  if (kinds.includes("object")) {
    const props = schema.properties ?? {};
    const names = Object.keys(props);
    const valid = validValue(schema, overrides) as fc.Arbitrary<Record<string, unknown>>;
    if (schema.additionalProperties === false) {
      options.push(fc.tuple(valid, fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !names.includes(k)), anyJson).map(([v, k, x]) => ({ ...v, [k]: x })));
    }
    for (const name of schema.required ?? []) {
      options.push(valid.map((v) => Object.fromEntries(Object.entries(v).filter(([k]) => k !== name))));
    }
    // One arbitrary per property, built once (building arbitraries per generated value is slow).
    for (const name of names) {
      options.push(fc.tuple(valid, invalidValue(props[name] ?? {})).map(([v, bad]) => ({ ...v, [name]: bad })));
    }
  }
  if (schema.anyOf !== undefined) options.push(wrongType);
  return options.length === 0 ? anyJson : fc.oneof(...options);
}

/** Mostly valid (to get past validation and reach the handler), often invalid, sometimes anything. */
export function fuzzValue(schema: Schema, overrides: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: validValue(schema, overrides), weight: 5 },
    { arbitrary: invalidValue(schema, overrides), weight: 4 },
    { arbitrary: anyJson, weight: 1 },
  );
}
