/**
 * Bytes for a raw socket: what no HTTP client would send — broken request lines, bad or
 * conflicting framing headers, over-long and malformed headers, truncated bodies, other
 * protocols — plus a few well-formed requests as a control.
 */
import fc from "fast-check";
import { binaryChar } from "./schema-arbitraries.ts";

export interface RawRequest {
  bytes: Buffer;
  /** The method and path, when the bytes have a recognisable request line (for the checks). */
  method: string;
  path: string;
  kind: string;
}

const crlf = "\r\n";

function raw(kind: string, text: string | Buffer, method = "GET", path = "/"): RawRequest {
  return { bytes: typeof text === "string" ? Buffer.from(text, "latin1") : text, method, path, kind };
}

function handcrafted(token: string, jobId: string): RawRequest[] {
  const auth = `Authorization: Bearer ${token}${crlf}`;
  const host = `Host: 127.0.0.1${crlf}`;
  const json = '{"reason":"raw"}';
  const post = (headers: string, body: string, path = `/api/v1/jobs/${jobId}/cancel`): string => `POST ${path} HTTP/1.1${crlf}${host}${auth}${headers}${crlf}${body}`;
  return [
    raw("control", `GET /healthz HTTP/1.1${crlf}${host}Connection: close${crlf}${crlf}`, "GET", "/healthz"),
    raw("control", `GET /api/v1/jobs HTTP/1.1${crlf}${host}${auth}Connection: close${crlf}${crlf}`, "GET", "/api/v1/jobs"),
    raw("no-host", `GET /healthz HTTP/1.1${crlf}${crlf}`, "GET", "/healthz"),
    raw("http/1.0", `GET /api/v1/jobs HTTP/1.0${crlf}${auth}${crlf}`, "GET", "/api/v1/jobs"),
    raw("http/0.9", `GET /healthz${crlf}`),
    raw("bad-version", `GET /healthz HTTP/9.9${crlf}${host}${crlf}`),
    raw("bad-version", `GET /healthz HTTP/1.1.1${crlf}${host}${crlf}`),
    raw("lowercase-method", `get /healthz HTTP/1.1${crlf}${host}${crlf}`),
    raw("unknown-method", `FROB /healthz HTTP/1.1${crlf}${host}${crlf}`),
    raw("space-in-method", `GE T /healthz HTTP/1.1${crlf}${host}${crlf}`),
    raw("absolute-uri", `GET http://127.0.0.1/api/v1/jobs HTTP/1.1${crlf}${host}${auth}${crlf}`, "GET", "/api/v1/jobs"),
    raw("asterisk", `OPTIONS * HTTP/1.1${crlf}${host}${crlf}`, "OPTIONS", "*"),
    raw("connect", `CONNECT 127.0.0.1:22 HTTP/1.1${crlf}${host}${crlf}`, "CONNECT", "127.0.0.1:22"),
    raw("space-in-path", `GET /api/v1/jobs /x HTTP/1.1${crlf}${host}${auth}${crlf}`),
    raw("nul-in-path", `GET /api/v1/jobs/\0 HTTP/1.1${crlf}${host}${auth}${crlf}`),
    raw("bad-percent", `GET /api/v1/jobs/%ZZ HTTP/1.1${crlf}${host}${auth}${crlf}`, "GET", "/api/v1/jobs/%ZZ"),
    raw("overlong-utf8-path", `GET /api/v1/jobs/%C0%AF HTTP/1.1${crlf}${host}${auth}${crlf}`, "GET", "/api/v1/jobs/%C0%AF"),
    raw("raw-utf8-path", Buffer.concat([Buffer.from("GET /api/v1/jobs/"), Buffer.from([0xff, 0xfe]), Buffer.from(` HTTP/1.1${crlf}${host}${auth}${crlf}`)])),
    raw("long-url", `GET /api/v1/jobs?x=${"a".repeat(100_000)} HTTP/1.1${crlf}${host}${auth}${crlf}`, "GET", "/api/v1/jobs"),
    raw("long-header", `GET /healthz HTTP/1.1${crlf}${host}X-Junk: ${"a".repeat(20_000)}${crlf}${crlf}`),
    raw("many-headers", `GET /healthz HTTP/1.1${crlf}${host}${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v${crlf}`).join("")}${crlf}`),
    raw("header-no-colon", `GET /healthz HTTP/1.1${crlf}${host}NoColonHere${crlf}${crlf}`),
    raw("header-space-before-colon", `GET /healthz HTTP/1.1${crlf}${host}X-A : b${crlf}${crlf}`),
    raw("obs-fold", `GET /healthz HTTP/1.1${crlf}${host}X-A: b${crlf} c${crlf}${crlf}`),
    raw("nul-in-header", `GET /healthz HTTP/1.1${crlf}${host}X-A: b\0c${crlf}${crlf}`),
    raw("bare-lf", `GET /healthz HTTP/1.1\nHost: x\n\n`),
    raw("bare-cr", `GET /healthz HTTP/1.1\rHost: x\r\r`),
    raw("auth-non-ascii", Buffer.concat([Buffer.from(`GET /api/v1/jobs HTTP/1.1${crlf}${host}Authorization: Bearer `), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from(`${crlf}${crlf}`)]), "GET", "/api/v1/jobs"),
    raw("control-post", post(`Content-Type: application/json${crlf}Content-Length: ${json.length}${crlf}Connection: close${crlf}`, json), "POST", "/cancel"),
    raw("short-body", post(`Content-Type: application/json${crlf}Content-Length: 100${crlf}`, json), "POST", "/cancel"),
    raw("long-body", post(`Content-Type: application/json${crlf}Content-Length: 3${crlf}`, json), "POST", "/cancel"),
    raw("negative-length", post(`Content-Type: application/json${crlf}Content-Length: -5${crlf}`, json), "POST", "/cancel"),
    raw("nan-length", post(`Content-Type: application/json${crlf}Content-Length: abc${crlf}`, json), "POST", "/cancel"),
    raw("huge-length", post(`Content-Type: application/json${crlf}Content-Length: 99999999999999999999${crlf}`, json), "POST", "/cancel"),
    raw("two-lengths", post(`Content-Type: application/json${crlf}Content-Length: ${json.length}${crlf}Content-Length: 3${crlf}`, json), "POST", "/cancel"),
    raw("length-and-chunked", post(`Content-Type: application/json${crlf}Content-Length: 4${crlf}Transfer-Encoding: chunked${crlf}`, `${json.length.toString(16)}${crlf}${json}${crlf}0${crlf}${crlf}`), "POST", "/cancel"),
    raw("chunked", post(`Content-Type: application/json${crlf}Transfer-Encoding: chunked${crlf}Connection: close${crlf}`, `${json.length.toString(16)}${crlf}${json}${crlf}0${crlf}${crlf}`), "POST", "/cancel"),
    raw("bad-chunk-size", post(`Content-Type: application/json${crlf}Transfer-Encoding: chunked${crlf}`, `zz${crlf}${json}${crlf}0${crlf}${crlf}`), "POST", "/cancel"),
    raw("chunk-too-short", post(`Content-Type: application/json${crlf}Transfer-Encoding: chunked${crlf}`, `ff${crlf}${json}${crlf}0${crlf}${crlf}`), "POST", "/cancel"),
    raw("chunked-twice", post(`Content-Type: application/json${crlf}Transfer-Encoding: chunked, chunked${crlf}`, `0${crlf}${crlf}`), "POST", "/cancel"),
    raw("unknown-encoding", post(`Content-Type: application/json${crlf}Transfer-Encoding: gzip${crlf}`, json), "POST", "/cancel"),
    raw("gzip-body-not-gzip", post(`Content-Type: application/json${crlf}Content-Encoding: gzip${crlf}Content-Length: ${json.length}${crlf}Connection: close${crlf}`, json), "POST", "/cancel"),
    raw("invalid-utf8-body", Buffer.concat([Buffer.from(post(`Content-Type: application/json${crlf}Content-Length: 16${crlf}Connection: close${crlf}`, "")), Buffer.from('{"reason":"'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"}')]), "POST", "/cancel"),
    raw("expect-continue", post(`Content-Type: application/json${crlf}Expect: 100-continue${crlf}Content-Length: ${json.length}${crlf}Connection: close${crlf}`, json), "POST", "/cancel"),
    raw("bad-expect", post(`Content-Type: application/json${crlf}Expect: 200-ok${crlf}Content-Length: ${json.length}${crlf}Connection: close${crlf}`, json), "POST", "/cancel"),
    raw("pipelined", `GET /healthz HTTP/1.1${crlf}${host}${crlf}GET /readyz HTTP/1.1${crlf}${host}${crlf}GARBAGE${crlf}${crlf}`, "GET", "/healthz"),
    raw("http2-preface", `PRI * HTTP/2.0${crlf}${crlf}SM${crlf}${crlf}`),
    raw("tls-hello", Buffer.from("16030100a5010000a10303", "hex")),
    raw("upgrade-websocket", `GET /api/v1/events HTTP/1.1${crlf}${host}${auth}Connection: Upgrade${crlf}Upgrade: websocket${crlf}Sec-WebSocket-Version: 13${crlf}Sec-WebSocket-Key: x${crlf}${crlf}`),
    raw("empty", ""),
    raw("just-crlf", `${crlf}${crlf}${crlf}`),
  ];
}

const requestLine = fc.tuple(
  fc.constantFrom("GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "FOO", "get", ""),
  fc.constantFrom("/healthz", "/api/v1/jobs", "/api/v1/jobs/cancel", "/api/v1/tokens", "/api/v1/events", "/mcp", "/", "/api/v1/jobs/x/cancel", "*", ""),
  fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/1.1 extra", "", "http/1.1"),
);

/** Generated: a request line, random headers (some broken) and a random body, in random framing. */
const generated = fc
  .tuple(
    requestLine,
    fc.array(
      fc.oneof(
        fc.tuple(fc.constantFrom("Content-Type", "Content-Length", "Transfer-Encoding", "Authorization", "Host", "X-A", "Connection"), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}: ${v}`),
        fc.string({ unit: binaryChar, maxLength: 60 }),
      ),
      { maxLength: 6 },
    ),
    fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v)))),
    fc.boolean(),
  )
  .map(([[method, path, version], headers, body, lf]) => {
    const eol = lf ? "\n" : crlf;
    const head = Buffer.from(`${method} ${path} ${version}${eol}${headers.join(eol)}${eol}${eol}`, "utf8");
    return raw("generated", Buffer.concat([head, body]), method, path);
  });

const randomBytes = fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => raw("random-bytes", Buffer.from(b)));

/** At least 300 requests: the handcrafted ones, then generated ones from a fixed seed. */
export function rawRequests(token: string, jobId: string): RawRequest[] {
  const fixed = handcrafted(token, jobId);
  const more = fc.sample(fc.oneof(generated, randomBytes), { numRuns: 300 - fixed.length + 50, seed: 7 });
  return [...fixed, ...more];
}
