/**
 * Requests aimed at one route: its path parameters, query and body drawn from the route's
 * OpenAPI operation (valid, broken in one place, or anything), mixed with raw garbage —
 * random bytes, wrong content types, huge and deep JSON, bad path parameters and query
 * strings, invalid UTF-8, odd and over-long headers, wrong methods, bad tokens.
 *
 * Job specs are drawn from a safe set (commands `true`/`false`, test handlers that return at
 * once): a request the fuzzer sends may well be accepted and run.
 */
import fc from "fast-check";
import { anyJson, anyString, fuzzValue, invalidValue, nastyString, validValue } from "./schema-arbitraries.ts";
import type { Schema } from "./schema-arbitraries.ts";
import type { CallerKind, Fixtures } from "./fuzz-server.ts";
import { openApiPath } from "./routes.ts";
import type { AppRoute } from "./routes.ts";

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  /** What the request is made of, for the report: `valid-json`, `bytes`, `deep`, … */
  kind: string;
}

interface Parameter {
  in: string;
  name: string;
  schema: Schema;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
}

export interface RequestContext {
  doc: OpenApiDoc;
  fixtures: Fixtures;
  secrets: Record<CallerKind, string>;
}

/** Jobs in a queue no node claims stay queued. */
export const parkedQueue = "parked";
/** A port nothing listens on: webhook deliveries fail at once, without leaving the machine. */
export const deadUrl = "http://127.0.0.1:9/hook";

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 100 });

// ---- bodies -------------------------------------------------------------------------------

const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");
let hugeBody: Buffer | undefined;
/** Over the 1 MiB body limit. */
const huge = (): Buffer => (hugeBody ??= utf8(`{"reason":"${"x".repeat(1_200_000)}"}`));
let nearLimitBody: Buffer | undefined;
/** Just under the limit, valid JSON. */
const nearLimit = (): Buffer => (nearLimitBody ??= utf8(`{"params":"${"y".repeat(1024 * 1024 - 100)}","command":["true"]}`));

function deep(depth: number, kind: "array" | "object", field: string | null): string {
  const inner = kind === "array" ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  return field === null ? inner : `{${JSON.stringify(field)}:${inner}}`;
}

const malformedJson = fc.constantFrom(
  "",
  " ",
  "{",
  "}",
  '{"a":}',
  "[1,2",
  "nul",
  "{'a':1}",
  '{"a":1}x',
  "\uFEFF{}",
  '{"a":NaN}',
  "/*c*/{}",
  '{"a":1,"a":2}',
  "1e999999",
  '"text"',
  "null",
  "[]",
  "0",
  "true",
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
);

/** Fields whose valid values are kept small: a `wait` of minutes would stall the run, not test anything more. */
const bodyOverrides: Record<string, fc.Arbitrary<unknown>> = { waitMs: fc.integer({ min: 0, max: 200 }) };

function bodyArbitrary(schema: Schema | undefined, valid: fc.Arbitrary<unknown> | null, firstField: string | null): fc.Arbitrary<{ payload: string | Buffer; kind: string }> {
  const json = (value: unknown): string => JSON.stringify(value) ?? "null";
  const generic = schema === undefined ? anyJson : fuzzValue(schema, bodyOverrides);
  return fc.oneof(
    { weight: 40, arbitrary: (valid === null ? generic : fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: generic })).map((v) => ({ payload: json(v), kind: "json" })) },
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ payload: Buffer.from(bytes), kind: "bytes" })) },
    {
      weight: 4,
      arbitrary: fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]).map((bad) => ({
        payload: Buffer.concat([utf8(`{${JSON.stringify(firstField ?? "reason")}:"`), Buffer.from(bad), utf8('"}')]),
        kind: "invalid-utf8",
      })),
    },
    { weight: 4, arbitrary: malformedJson.map((text) => ({ payload: text, kind: "malformed-json" })) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(64, 65, 1000, 10_000, 100_000), fc.constantFrom("array" as const, "object" as const), fc.constantFrom(null, firstField))
        .map(([depth, kind, field]) => ({ payload: deep(depth, kind, field), kind: "deep" })),
    },
    // A megabyte to parse each time: rarer than the others.
    { weight: 1, arbitrary: fc.constantFrom("huge", "near-limit").map((kind) => ({ payload: kind === "huge" ? huge() : nearLimit(), kind })) },
  );
}

const contentTypes = fc.oneof(
  { weight: 12, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "application/octet-stream",
      "application/json; charset=latin1",
      "APPLICATION/JSON",
      "application/jsonx",
      "application/vnd.api+json",
      "*/*",
      "application/json;;;",
      "text/html",
      "",
      "none",
    ),
  },
);

// ---- job specs: only harmless work -------------------------------------------------------

const taskKey = fc.constantFrom("main", "a", "b", "c");
const safeCommand = fc.constantFrom<string[] | string>(["true"], ["false"], "true", ["sh", "-c", "exit 3"]);
const safeHandler = fc.constantFrom("noop", "fail", "flaky", "checkpointed", "nope", "sleepy");
const idempotencyKeys = fc.constantFrom(...Array.from({ length: 20 }, (_, i) => `fuzz-${i}`));

const safeTask = fc.oneof(
  fc.record({ key: taskKey, command: safeCommand, dependsOn: fc.array(fc.oneof(taskKey, fc.record({ key: taskKey, onCancel: fc.constantFrom("cascade", "skip") })), { maxLength: 2 }), retries: fc.integer({ min: 0, max: 2 }), runOn: fc.constantFrom("normal", "cancel") }, { requiredKeys: ["key", "command"] }),
  fc.record({ key: taskKey, handler: safeHandler, input: fc.oneof(fc.constant(null), fc.record({ ms: fc.integer({ min: 0, max: 50 }) })) }, { requiredKeys: ["key", "handler"] }),
);

/** Job specs that may be accepted (and run): every job is kept small, and repeats come back by idempotency key. */
export const safeJobSpec: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.oneof(
      fc.record({ command: safeCommand }),
      fc.record({ handler: safeHandler, input: fc.oneof(fc.constant(null), fc.record({ ms: fc.integer({ min: 0, max: 50 }) })) }),
      fc.record({ tasks: fc.array(safeTask, { minLength: 1, maxLength: 4 }) }),
    ),
    fc.record(
      {
        name: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), nastyString),
        queue: fc.constantFrom("default", parkedQueue, "bad queue!"),
        priority: fc.integer({ min: -5, max: 5 }),
        labels: fc.dictionary(fc.constantFrom("team", "env", "a/b", "bad key!"), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
        params: fc.jsonValue({ maxDepth: 2 }),
        graceMs: fc.integer({ min: 0, max: 1000 }),
        failFast: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    idempotencyKeys,
  )
  .map(([work, common, idempotencyKey]) => ({ ...work, ...common, idempotencyKey }));

/** A safe spec with one field broken (never the command: nothing random is ever run). */
const brokenJobSpec = fc
  .tuple(safeJobSpec, fc.constantFrom("name", "queue", "priority", "labels", "params", "graceMs", "failFast", "timeoutMs", "queueTimeoutMs", "idempotencyKey", "tasks", "unknownField", "retries", "shell", "cwd", "env", "input"), anyJson)
  .map(([spec, field, value]) => ({ ...spec, [field]: field === "cwd" || field === "env" || field === "shell" ? (typeof value === "string" ? 42 : value) : value }));

// ---- per-route valid values ----------------------------------------------------------------

function validBodies(route: AppRoute, ctx: RequestContext): fc.Arbitrary<unknown> | null {
  const jobId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ctx.fixtures.jobIds) }, { weight: 1, arbitrary: fc.uuid() });
  switch (`${route.method} ${route.path}`) {
    case "POST /api/v1/jobs":
      return fc.oneof({ weight: 3, arbitrary: safeJobSpec }, { weight: 2, arbitrary: brokenJobSpec });
    case "POST /api/v1/webhooks":
      return fc.record(
        {
          url: fc.constantFrom(deadUrl, `${deadUrl}?x=1`, "ftp://127.0.0.1:9/", "http://u:p@127.0.0.1:9/", "not a url", "javascript:alert(1)", "http://[::1", "/relative"),
          eventTypes: fc.constantFrom([], ["belay.job.cancelled"], ["belay.nope"], ["belay.job.cancelled", "belay.job.cancelled"]),
          secret: fc.oneof(fc.string({ minLength: 16, maxLength: 40 }), fc.string({ maxLength: 15 })),
        },
        { requiredKeys: ["url"] },
      );
    case "POST /api/v1/jobs/cancel":
      return fc.record(
        {
          filter: fc.record(
            {
              ids: fc.array(jobId, { maxLength: 4 }),
              status: fc.oneof(fc.constantFrom("queued", "running", "succeeded"), fc.constant(["queued", "cancelling"])),
              queue: fc.constantFrom("default", parkedQueue),
              owner: fc.constantFrom("uma", "otto"),
              labels: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
              createdBefore: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), anyString),
            },
            { requiredKeys: [] },
          ),
          dryRun: fc.boolean(),
          idempotencyKey: fc.constantFrom("bulk-1", "bulk-2", "bulk-3"),
          reason: fc.string({ maxLength: 50 }),
          force: fc.boolean(),
          graceMs: fc.integer({ min: 0, max: 1000 }),
          sampleSize: fc.integer({ min: 0, max: 10 }),
        },
        { requiredKeys: ["filter"] },
      );
    case "POST /mcp": {
      const args = fc.oneof(
        fc.record({ jobId, reason: fc.string({ maxLength: 20 }), force: fc.boolean() }, { requiredKeys: ["jobId"] }),
        fc.record({ jobId, taskKey }, { requiredKeys: [] }),
        fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 }),
      );
      const call = fc.oneof(
        fc.record({ name: fc.constantFrom("get_job_status", "list_jobs", "cancel_job", "cancel_task", "get_cancellation_status", "nope"), arguments: args }),
        fc.record({ name: fc.constant("submit_job"), arguments: safeJobSpec }),
      );
      const message = fc.record(
        {
          jsonrpc: fc.constantFrom("2.0", "2.0", "1.0"),
          id: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)),
          method: fc.constantFrom("initialize", "tools/list", "tools/call", "ping", "notifications/initialized", "resources/list", "nope"),
          params: fc.oneof(call, fc.constant({ protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "fuzz", version: "0" } }), anyJson),
        },
        { requiredKeys: ["jsonrpc", "method"] },
      );
      return fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: fc.array(message, { maxLength: 3 }) });
    }
    default:
      return null;
  }
}

function idPool(route: AppRoute, fixtures: Fixtures): string[] {
  if (route.path.startsWith("/api/v1/tokens/")) return fixtures.tokenIds;
  if (route.path.startsWith("/api/v1/webhooks/")) return fixtures.webhookIds;
  if (route.path.startsWith("/api/v1/cancellations/")) return [...fixtures.cancellationIds, ...fixtures.jobIds];
  return fixtures.jobIds;
}

// ---- the request ---------------------------------------------------------------------------

/** Lone surrogates replaced (encodeURIComponent throws on them). */
const wellFormed = (s: string): string => s.replaceAll(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

const badSegments = ["%ZZ", "%", "%00", "%C0%AF", "%FF", "..", ".", "%2e%2e", "a%2Fb", "%u0041", "x".repeat(5000)];

/** A path segment: mostly percent-encoded, sometimes raw, sometimes a known troublemaker. */
function encodedSegment(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(value, fc.nat(9), fc.nat(badSegments.length - 1)).map(([v, how, bad]) =>
    how < 8 ? encodeURIComponent(wellFormed(v)) : how === 8 ? v : (badSegments[bad] ?? "%"),
  );
}

function paramValue(name: string, schema: Schema | undefined, route: AppRoute, ctx: RequestContext): fc.Arbitrary<string> {
  const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v) ?? "");
  const known = name === "key" ? fc.constantFrom(...ctx.fixtures.taskKeys) : fc.constantFrom(...idPool(route, ctx.fixtures));
  const value = fc.oneof(
    { weight: 6, arbitrary: known },
    { weight: 2, arbitrary: schema === undefined ? fc.uuid() : validValue(schema).map(asText) },
    { weight: 2, arbitrary: schema === undefined ? anyString : invalidValue(schema).map(asText) },
  );
  return encodedSegment(value);
}

function queryString(parameters: Parameter[]): fc.Arbitrary<string> {
  const asValues = (v: unknown): string[] =>
    Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : JSON.stringify(x) ?? "")) : [typeof v === "string" ? v : JSON.stringify(v) ?? ""];
  const entries = parameters.map((p) => fc.option(fuzzValue(p.schema).map((v) => asValues(v).map((x) => [p.name, x] as [string, string])), { freq: 2 }));
  const structured = fc
    .tuple(fc.tuple(...entries), fc.option(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("limit", "status", "jobId")), anyString), { freq: 4 }))
    .map(([picked, extra]) => {
      const pairs = picked.flatMap((e) => e ?? []);
      if (extra !== null) pairs.push(extra);
      return new URLSearchParams(pairs).toString();
    });
  const raw = fc.constantFrom("a=%ZZ", "&&=&", "limit=1&limit=2", "limit=", "limit=1e3", "limit=0x10", "limit=-0", "status=%00", "=", "?", "%", "a[b]=1", "__proto__[x]=1", `x=${"a".repeat(20_000)}`);
  return fc.oneof({ weight: 8, arbitrary: structured }, { weight: 1, arbitrary: raw }, { weight: 1, arbitrary: printable.map((s) => s.replaceAll("#", "")) });
}

function authHeader(secrets: Record<CallerKind, string>): fc.Arbitrary<string | null> {
  const bearer = (s: string): string => `Bearer ${s}`;
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant(bearer(secrets.admin)) },
    { weight: 4, arbitrary: fc.constantFrom(...(["operator", "user", "otherUser", "viewer"] as const).map((k) => bearer(secrets[k]))) },
    { weight: 1, arbitrary: fc.constantFrom(bearer(secrets.expired), bearer(secrets.revoked)) },
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(
          "Bearer",
          "Bearer ",
          "Basic YWRtaW46YWRtaW4=",
          `bearer ${secrets.admin}`,
          `Bearer  ${secrets.admin}  `,
          `Bearer ${secrets.admin} extra`,
          `Token ${secrets.admin}`,
          `Bearer ${secrets.admin.slice(0, -1)}`,
          `Bearer ${secrets.admin}x`,
          secrets.admin,
          `Bearer ${"a".repeat(100_000)}`,
        ),
        printable.map(bearer),
      ),
    },
  );
}

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Record<string, string>>(
      { "x-junk": "a".repeat(70_000) },
      { "last-event-id": "-1" },
      { "last-event-id": "99999999999999999999999" },
      { accept: "application/xml" },
      { accept: "text/event-stream" },
      { accept: "application/json, text/event-stream" },
      { "x-forwarded-for": "203.0.113.9" },
      { "content-encoding": "gzip" },
      { "accept-encoding": "br;q=abc" },
      { expect: "100-continue" },
      { host: "evil.example" },
      { "sec-fetch-site": "cross-site" },
    ),
  },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("x-a", "last-event-id", "accept", "if-none-match", "range", "cookie"), printable, { maxKeys: 2 }) },
);

const otherMethods = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");

/** Requests aimed at `route`. */
export function requestArbitrary(route: AppRoute, ctx: RequestContext): fc.Arbitrary<FuzzRequest> {
  const operation = ctx.doc.paths[openApiPath(route.path)]?.[route.method.toLowerCase()];
  const parameters = operation?.parameters ?? [];
  const bodySchema = operation?.requestBody?.content?.["application/json"]?.schema;
  const firstField = Object.keys(bodySchema?.properties ?? {})[0] ?? null;

  const segments = route.path.split("/").map((segment): fc.Arbitrary<string> => {
    if (segment.startsWith(":")) {
      const name = segment.slice(1);
      return paramValue(name, parameters.find((p) => p.in === "path" && p.name === name)?.schema, route, ctx);
    }
    if (segment === "*") return fc.oneof(fc.constantFrom("jobs", "history", "assets/app.js", "index.html", "a/b/c", "favicon.svg", "..%2f..%2fetc%2fpasswd", "api/v1/x", "x.map"), printable.map((p) => encodeURIComponent(p)));
    return fc.constant(segment);
  });
  const path = fc.tuple(...segments).map((parts) => parts.join("/"));
  const mangledPath = fc.oneof(
    { weight: 20, arbitrary: path },
    { weight: 1, arbitrary: fc.tuple(path, fc.constantFrom("/", "//", "/extra", "/..", "/%2e%2e", ";x=1", "%00", "#frag")).map(([p, suffix]) => `${p}${suffix}`) },
    { weight: 1, arbitrary: path.map((p) => p.toUpperCase()) },
    { weight: 1, arbitrary: path.map((p) => p.replace("/", "//")) },
  );
  const query = parameters.some((p) => p.in === "query") ? queryString(parameters.filter((p) => p.in === "query")) : fc.oneof({ weight: 6, arbitrary: fc.constant("") }, { weight: 1, arbitrary: queryString([]) });

  const method = fc.oneof(
    { weight: 14, arbitrary: fc.constant(route.method) },
    { weight: route.method === "GET" ? 1 : 0, arbitrary: fc.constant("HEAD") },
    { weight: 1, arbitrary: otherMethods },
  );
  const takesBody = route.method !== "GET" && route.method !== "DELETE";
  const body = bodyArbitrary(bodySchema, validBodies(route, ctx), firstField);
  const maybeBody = takesBody
    ? fc.oneof({ weight: 12, arbitrary: body }, { weight: 1, arbitrary: fc.constant(null) })
    : fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: body });

  return fc
    .record({ method, path: mangledPath, query, auth: authHeader(ctx.secrets), contentType: contentTypes, body: maybeBody, extra: extraHeaders })
    .map(({ method: m, path: p, query: q, auth, contentType, body: b, extra }) => {
      const headers: Record<string, string> = { ...extra };
      if (auth !== null) headers["authorization"] = auth;
      if (b !== null && contentType !== "none") headers["content-type"] = contentType;
      if (route.path === "/mcp" && headers["accept"] === undefined) headers["accept"] = "application/json, text/event-stream";
      const request: FuzzRequest = { method: m, url: q === "" ? p : `${p}?${q}`, headers, kind: b === null ? "no-body" : b.kind };
      // HEAD and GET requests with a body are sent too (a body on GET is legal HTTP), but not on HEAD/OPTIONS where inject refuses.
      if (b !== null && m !== "HEAD") request.payload = b.payload;
      return request;
    });
}
