/**
 * Validation of a submitted job spec (DESIGN §1, §3, §4): `parseJobSpec` turns the raw
 * spec a client sent (JSON over HTTP, or a value passed to the library) into the
 * normalised `JobSpec` the engine stores, or throws `BelayError("INVALID_REQUEST")`.
 *
 * Every error names the offending field: the message starts with its path
 * (`tasks[2].dependsOn[0]: unknown task "bild"`) and `details.field` carries the same path
 * (`""` is the spec itself). Paths use `.name` for fields, `[i]` for array items and
 * `["…"]` for map keys that are not plain identifiers.
 *
 * How it works: the input is first copied, once, into a fresh JSON tree (checking that it
 * is JSON, bounding its size and depth, refusing cycles); the fields are then validated on
 * that copy. So the input is never mutated, each of its properties is read once (a getter
 * or proxy cannot answer differently to two reads), and the result shares no object with
 * it: a caller changing its input afterwards cannot change a stored spec.
 */
import { BelayError, invalid } from "./errors.ts";
import { maxGraceMs } from "./grace.ts";
import { findCycle } from "./graph.ts";
import type {
  CancelPolicy,
  Dependency,
  EnvValue,
  HandlerSpec,
  JobSpec,
  Json,
  OnParentCancel,
  ProcessSpec,
  RemoteSpec,
  SlurmSpec,
  TaskKind,
  TaskSpec,
} from "./model.ts";
import { expandTemplate, parseEnvValue } from "./templates.ts";
import type { TemplateSet } from "./templates.ts";

// ---------------------------------------------------------------------------------------
// Input types

/** A dependency as submitted: a task key, or a key with its own cancel policy. */
export type DependencyInput =
  | string
  | {
      /** Key of a task of the same job. */
      key: string;
      /**
       * What happens to the dependent task when this dependency is cancelled on its own:
       * `cascade` cancels it too, `skip` runs it as if the dependency were skipped. A task
       * cancel request's `cascade` overrides it. Default `"cascade"`.
       */
      onCancel?: CancelPolicy | undefined;
    };

/** Fields every task has, whatever its kind. */
export interface TaskInputBase {
  /** Unique within the job; `^[A-Za-z0-9_.-]{1,100}$`. Required. */
  key: string;
  /** Tasks this one waits for; each must name another task of the job. Default `[]`. */
  dependsOn?: DependencyInput[] | undefined;
  /** Extra attempts after a failed attempt, per job attempt; integer 0..100. Default 0. */
  retries?: number | undefined;
  /**
   * Grace period of this task when it is cancelled, in milliseconds: how long its runner
   * may take to stop before it is force-killed; integer 0..86 400 000 (24 h). Default: the
   * job's `graceMs`.
   */
  graceMs?: number | undefined;
  /** Overrides the job's `stallTimeoutMs` for this task (null: no watchdog for it); same bounds. */
  stallTimeoutMs?: number | null | undefined;
  /**
   * `"normal"`: runs as part of the job. `"cancel"`: a compensation task, run only after a
   * cancellation of the job (even of a queued job) to undo external effects. A normal task
   * cannot depend on a compensation task, and a compensation task can depend only on
   * other compensation tasks. Default `"normal"`.
   */
  runOn?: "normal" | "cancel" | undefined;
  /**
   * Resource pools this task holds one slot of while it runs; unique names,
   * `^[A-Za-z0-9_.-]{1,100}$`. Default `[]`.
   */
  uses?: string[] | undefined;
}

/** The fields of a process task (also allowed at the top level of a one-task spec). */
export interface ProcessFieldsInput {
  /**
   * What to run: an argv array (program first; no shell), or a string. Non-empty, each
   * string at most 10 000 characters, no NUL character. Required.
   */
  command: string[] | string;
  /** Run `command` through the system shell. Default: unset (the runner's default). */
  shell?: boolean | undefined;
  /** Working directory; non-empty, at most 4 096 characters. Default: the runner's work directory. */
  cwd?: string | undefined;
  /**
   * Extra environment variables; names non-empty without `=`, no NUL anywhere. A value is a
   * string, or `{"secret": NAME}`: a server-side secret (`--secrets-file`,
   * `BELAY_SECRET_<NAME>`) put in at spawn time, never stored; an unknown name is refused at
   * submit. Default `{}`.
   */
  env?: Record<string, EnvValue> | undefined;
}

/** A task run as an OS process (`kind` may be omitted: `command` implies it). */
export interface ProcessTaskInput extends TaskInputBase, ProcessFieldsInput {
  kind?: "process" | undefined;
}

/** A task run by a registered JavaScript handler (`kind` may be omitted: `handler` implies it). */
export interface HandlerTaskInput extends TaskInputBase {
  kind?: "handler" | undefined;
  /** Name of a registered handler; `^[A-Za-z_$][A-Za-z0-9_$]{0,99}$`. Required. */
  handler: string;
  /** The handler's input, any JSON value. Default `null`. */
  input?: Json | undefined;
}

/** A task run on a remote service through an adapter (`kind` may be omitted: `adapter` implies it). */
export interface RemoteTaskInput extends TaskInputBase {
  kind?: "remote" | undefined;
  /** Name of a configured remote adapter (e.g. `"http"`); `^[A-Za-z0-9_.-]{1,100}$`. Required. */
  adapter: string;
  /** What the adapter submits, any JSON value. Default `null`. */
  input?: Json | undefined;
}

/**
 * A task of a server-defined template (`--templates`): it becomes a process task running
 * the template's argv with these parameters, each checked against its type and passed as
 * (part of) one argv entry, never through a shell. `kind` may be omitted: `template` implies it.
 */
export interface TemplateTaskInput extends TaskInputBase {
  kind?: "template" | undefined;
  /** Name of a template of the server. Required. */
  template: string;
  /** The template's parameters by name. Default `{}`. */
  params?: { [name: string]: Json } | undefined;
}

/**
 * A batch job on a Slurm cluster (docs/slurm.md). `kind: "slurm"` is required unless
 * `script` is given (a `command` alone means a process task).
 */
export interface SlurmTaskInput extends TaskInputBase {
  kind?: "slurm" | undefined;
  /** A batch script (starting with `#!`); at most 100 000 characters. Exactly one of `script` and `command`. */
  script?: string | undefined;
  /** A shell command line, run as `sbatch --wrap`; at most 10 000 characters. Exactly one of `script` and `command`. */
  command?: string | undefined;
  /** Slurm partition; `^[A-Za-z0-9_.-]{1,100}$`. Default: the cluster's default partition. */
  partition?: string | undefined;
  /** Slurm time limit (`--time`): `minutes`, `[D-]HH:MM[:SS]` or `MM:SS`. Default: the partition's limit. */
  time?: string | undefined;
  /** CPUs per task (`--cpus-per-task`), integer 1..4096. */
  cpus?: number | undefined;
  /** Memory per node (`--mem`): an integer with an optional K, M, G or T suffix. */
  memory?: string | undefined;
  /** Generic resources (`--gres`), e.g. `gpu:1`; `^[A-Za-z0-9_:,.-]{1,200}$`. */
  gres?: string | undefined;
  /** Extra environment variables of the job; names non-empty without `=`, no NUL anywhere. */
  env?: Record<string, string> | undefined;
  /**
   * Extra sbatch options, at most 50, each one `--option=value` (or `--flag`) argument with
   * no whitespace. Options that would move the job's output, its name or its environment
   * (`--output`, `--error`, `--chdir`, `--export`, `--wrap`, …) are refused: Belay owns them.
   */
  sbatchArgs?: string[] | undefined;
}

/**
 * A task that runs a child job and ends with it: succeeded, failed or cancelled with it
 * (DESIGN §7). The child is validated and checked against the policy with its parent.
 * `kind` may be omitted: `job` implies it. `job` tasks nest at most 8 deep in one spec.
 */
export interface JobTaskInput extends TaskInputBase {
  kind?: "job" | undefined;
  /** The child job's spec; its `onParentCancel` ("cancel", the default, or "detach") says what the parent's cancel does to it. */
  job: JobSpecInput;
}

/** A task as submitted: flat, its kind's fields beside the common ones. */
export type TaskSpecInput = ProcessTaskInput | HandlerTaskInput | RemoteTaskInput | TemplateTaskInput | SlurmTaskInput | JobTaskInput;

/**
 * A job spec as submitted (`POST /jobs`, `submitJob`). Unknown fields are refused. A field
 * set to `undefined` counts as absent.
 *
 * Either `tasks`, or one of the one-task shorthands, which make a single task with key
 * `"main"`: `command` (with optional `shell`, `cwd`, `env`) for a process task, `handler`
 * (with optional `input`) for a handler task, `adapter` (with optional `input`) for a remote
 * task. Use `tasks` to set a task's other fields (`retries`, `uses`, …).
 */
export interface JobSpecInput {
  /**
   * Display name; 1..200 characters, not only whitespace. Default: for a one-task job, the
   * command's program name (first word, without directories), the handler's or the
   * adapter's name; otherwise `"job"`.
   */
  name?: string | undefined;
  /** Queue the job waits in; `^[A-Za-z0-9_.:-]{1,100}$`. Default `"default"`. */
  queue?: string | undefined;
  /** Higher runs first; integer -1 000 000..1 000 000. Default 0. */
  priority?: number | undefined;
  /**
   * Free-form labels for filtering; at most 50, keys `^[A-Za-z0-9_./-]{1,100}$`, values
   * strings of at most 200 characters. Default `{}`.
   */
  labels?: Record<string, string> | undefined;
  /** Parameters of the job, any JSON value, at most `maxParamsBytes` (256 KiB) as JSON. Default `null`. */
  params?: Json | undefined;
  /** The tasks: 1..`maxTasks` (1000), with at most `maxEdges` (10 000) dependencies in all and no cycle. */
  tasks?: TaskSpecInput[] | undefined;
  /** Cancel the job (requestedBy `system`, reason `timeout`) when it has run this long, in milliseconds; positive integer or null (no limit). Default null. */
  timeoutMs?: number | null | undefined;
  /** Cancel the job when it has not started this long after submission, in milliseconds; positive integer or null (no limit). Default null. */
  queueTimeoutMs?: number | null | undefined;
  /**
   * Cancel a running task (requestedBy `system`, reason `stalled`) that reported no progress,
   * checkpoint or log line for this long, in milliseconds; integer `minStallTimeoutMs`
   * (1000)..10 years, or null (no watchdog). A task's own value overrides it. Default null.
   */
  stallTimeoutMs?: number | null | undefined;
  /** Grace period of a cancel, in milliseconds, before runners are force-killed; integer 0..86 400 000 (24 h). Default 10 000. */
  graceMs?: number | undefined;
  /** Cancel the other branches as soon as a task fails (after its retries). Default false. */
  failFast?: boolean | undefined;
  /** Submitting twice with the same key returns the first job; 1..200 characters or null. Default null. */
  idempotencyKey?: string | null | undefined;
  /**
   * For a child job (a handler's `ctx.submitChild`, or a `job` task's child): `"cancel"` (the
   * default) cancels it with its parent; `"detach"` leaves it (and its own children) running.
   * Ignored on a root job.
   */
  onParentCancel?: "cancel" | "detach" | undefined;
  /** Shorthand: the command of a one-process-task job (see `ProcessFieldsInput.command`). */
  command?: string[] | string | undefined;
  /** Shorthand, with `command` only: see `ProcessFieldsInput.shell`. */
  shell?: boolean | undefined;
  /** Shorthand, with `command` only: see `ProcessFieldsInput.cwd`. */
  cwd?: string | undefined;
  /** Shorthand, with `command` only: see `ProcessFieldsInput.env`. */
  env?: Record<string, EnvValue> | undefined;
  /** Shorthand: the handler of a one-handler-task job. */
  handler?: string | undefined;
  /** Shorthand: the adapter of a one-remote-task job. */
  adapter?: string | undefined;
  /** Shorthand, with `handler` or `adapter` only: the task's input. Default `null`. */
  input?: Json | undefined;
}

// ---------------------------------------------------------------------------------------
// Limits

/** Size limits of a job spec; a server may configure its own. */
export interface SpecLimits {
  /** Most tasks in one job. Default 1000. */
  maxTasks: number;
  /** Most bytes of the whole spec, as compact UTF-8 JSON. Default 1 MiB (1 048 576). */
  maxSpecBytes: number;
  /** Most bytes of `params`, as compact UTF-8 JSON. Default 256 KiB (262 144). */
  maxParamsBytes: number;
  /** Most dependency edges (entries of `dependsOn`) over all tasks. Default 10 000. */
  maxEdges: number;
  /** Deepest nesting of arrays and objects, the spec itself being level 1. Default 64. */
  maxJsonDepth: number;
}

export const defaultSpecLimits: Readonly<SpecLimits> = Object.freeze({
  maxTasks: 1000,
  maxSpecBytes: 1024 * 1024,
  maxParamsBytes: 256 * 1024,
  maxEdges: 10_000,
  maxJsonDepth: 64,
});

/**
 * Largest `timeoutMs` / `queueTimeoutMs`: 10 years. Why a bound: a deadline beyond the
 * range of `Date` would make an invalid timestamp. (Timers must still not take it raw:
 * `setTimeout` fires at once beyond 2^31-1 ms.)
 */
export const maxTimeoutMs = 10 * 365 * 24 * 60 * 60 * 1000;
/**
 * Smallest `stallTimeoutMs`: 1 second. A task's activity is stored at most about once a
 * second (see `src/engine/stall-clock.ts`), so a shorter watchdog could not tell a busy task
 * from a silent one.
 */
export const minStallTimeoutMs = 1000;
/** Bound of `priority` in both directions. */
export const maxPriority = 1_000_000;
/** Most extra attempts of a task. */
export const maxRetries = 100;

const keyPattern = /^[A-Za-z0-9_.-]{1,100}$/;
const poolPattern = keyPattern;
const adapterPattern = keyPattern;
const queuePattern = /^[A-Za-z0-9_.:-]{1,100}$/;
const labelKeyPattern = /^[A-Za-z0-9_./-]{1,100}$/;
const handlerPattern = /^[A-Za-z_$][A-Za-z0-9_$]{0,99}$/;
const maxNameLength = 200;
const maxIdempotencyKeyLength = 200;
const maxLabels = 50;
const maxLabelValueLength = 200;
const maxCommandLength = 10_000;
const maxCwdLength = 4096;

/** Kinds a task may be submitted as; a `template` task is stored as a process task. */
type InputKind = TaskKind | "template";
const taskKinds: readonly TaskKind[] = ["process", "handler", "remote", "slurm", "job"];
/** Kinds the top-level one-task shorthand can make. */
const shorthandKinds: readonly TaskKind[] = ["process", "handler", "remote"];
const inputKinds: readonly InputKind[] = [...taskKinds, "template"];
const cancelPolicies: readonly CancelPolicy[] = ["cascade", "skip"];
const runOnValues: readonly TaskSpec["runOn"][] = ["normal", "cancel"];

/** The field that makes a task of each kind, and the fields each kind may carry. */
const kindMarker: Readonly<Record<InputKind, string>> = { process: "command", handler: "handler", remote: "adapter", slurm: "script", template: "template", job: "job" };
const kindFields: Readonly<Record<InputKind, readonly string[]>> = {
  process: ["command", "shell", "cwd", "env"],
  handler: ["handler", "input"],
  remote: ["adapter", "input"],
  slurm: ["script", "command", "partition", "time", "cpus", "memory", "gres", "env", "sbatchArgs"],
  template: ["template", "params"],
  job: ["job"],
};
const commonTaskFields = ["key", "kind", "dependsOn", "retries", "graceMs", "stallTimeoutMs", "runOn", "uses"];
const allKindFields = [...new Set(Object.values(kindFields).flat())];
const taskFields = new Set([...commonTaskFields, ...allKindFields]);
const jobFields = [
  "name",
  "queue",
  "priority",
  "labels",
  "params",
  "tasks",
  "timeoutMs",
  "queueTimeoutMs",
  "stallTimeoutMs",
  "graceMs",
  "failFast",
  "idempotencyKey",
  "onParentCancel",
];
const onParentCancelValues: readonly OnParentCancel[] = ["cancel", "detach"];
/** How deep `job` tasks may nest inside one spec: the engine's depth limit of a tree (DESIGN §7) is the same by default. */
export const maxNestedJobTasks = 8;
/** `job` tasks being parsed around the current one (parsing is synchronous, so a counter is enough). */
let nesting = 0;
/** Top-level fields of the one-task shorthand (templates have none: `params` is the job's; slurm tasks need a tasks list). */
const shorthandFields = [...new Set(shorthandKinds.flatMap((k) => kindFields[k]))];
const topLevelFields = new Set([...jobFields, ...shorthandFields]);
const templateNamePattern = keyPattern;
const dependencyFields = new Set(["key", "onCancel"]);

// ---------------------------------------------------------------------------------------
// Errors and paths

type JsonObject = { [key: string]: Json };

function fail(field: string, message: string, details?: Record<string, unknown>): never {
  throw invalid(`${field === "" ? "job spec" : field}: ${message}`, { field, ...details });
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent.key`, or `parent["key"]` when `key` is not a plain identifier (long keys shortened). */
function member(parent: string, key: string): string {
  if (identifier.test(key) && key.length <= 100) return parent === "" ? key : `${parent}.${key}`;
  const shown = key.length <= 100 ? key : `${key.slice(0, 100)}…`;
  return `${parent}[${JSON.stringify(shown)}]`;
}

function item(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Quotes a value taken from the input for a message, shortened. */
function quote(value: string): string {
  return JSON.stringify(value.length <= 100 ? value : `${value.slice(0, 100)}…`);
}

/** The candidate closest to `word` by edit distance, if close enough to be a likely typo. */
function closest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length > 100) return undefined;
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(word.length / 3)));
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance || (d === bestDistance && best === undefined)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

function unknownField(field: string, name: string, known: Iterable<string>): never {
  const suggestion = closest(name, known);
  fail(
    field,
    suggestion === undefined ? "unknown field" : `unknown field (did you mean "${suggestion}"?)`,
    suggestion === undefined ? undefined : { suggestion },
  );
}

// ---------------------------------------------------------------------------------------
// Step 1: a checked JSON copy of the input

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  // `Object.prototype`, null, or another realm's `Object.prototype` (whose prototype is null).
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function describeValue(value: unknown): string {
  if (typeof value !== "object" || value === null) return typeof value;
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  return tag === "Object" ? "an object that is not plain" : `a ${tag}`;
}

/**
 * Bytes of `value` as a JSON string literal, UTF-8 encoded (as `JSON.stringify` writes it),
 * or -1 if it holds a character no store keeps as given: NUL (PostgreSQL refuses it in
 * `text` and `jsonb`) or a lone surrogate (encoding to UTF-8 would replace it with U+FFFD,
 * so the stored spec would differ from the submitted one).
 */
function jsonStringBytes(value: string): number {
  let bytes = 2;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) return -1;
    if (c < 0x20) bytes += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
    else if (c === 0x22 || c === 0x5c) bytes += 2;
    else if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else return -1;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

/** Bytes of a JSON value as compact UTF-8 JSON. */
function jsonBytes(value: Json): number {
  if (value === null) return 4;
  switch (typeof value) {
    case "boolean":
      return value ? 4 : 5;
    case "number":
      return String(value).length;
    case "string":
      return jsonStringBytes(value);
    default:
      break;
  }
  if (Array.isArray(value)) {
    let bytes = 2 + Math.max(0, value.length - 1);
    for (const v of value) bytes += jsonBytes(v);
    return bytes;
  }
  const keys = Object.keys(value);
  let bytes = 2 + Math.max(0, keys.length - 1);
  for (const k of keys) bytes += jsonStringBytes(k) + 1 + jsonBytes(value[k]!);
  return bytes;
}

/** Defines an own data property, even one named `__proto__`. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Copies `root` (a plain object) into a fresh JSON tree: plain objects and arrays, strings,
 * finite numbers (`-0` becomes 0), booleans and null. An object property whose value is
 * `undefined` is left out, as `JSON.stringify` does. Anything else, a cycle, nesting deeper
 * than `maxJsonDepth` or more than `maxSpecBytes` of JSON is an error.
 */
function copyJson(root: object, limits: SpecLimits): JsonObject {
  const path: (string | number)[] = [];
  const ancestors = new Set<object>();
  let bytes = 0;

  const here = (): string =>
    path.reduce<string>((parent, seg) => (typeof seg === "number" ? item(parent, seg) : member(parent, seg)), "");
  /** Fails if `n` more bytes would exceed the limit; checking a lower bound first means a huge value is refused without scanning it. */
  const need = (n: number): void => {
    if (bytes + n > limits.maxSpecBytes) {
      fail("", `larger than the limit of ${limits.maxSpecBytes} bytes of JSON (maxSpecBytes)`, {
        limit: limits.maxSpecBytes,
      });
    }
  };
  const add = (n: number): void => {
    need(n);
    bytes += n;
  };

  const stringBytes = (value: string): number => {
    const n = jsonStringBytes(value);
    if (n < 0) fail(here(), "must not contain a NUL character or a lone surrogate (malformed UTF-16)");
    return n;
  };

  const copy = (value: unknown, depth: number): Json => {
    switch (typeof value) {
      case "string":
        need(value.length + 2);
        add(stringBytes(value));
        return value;
      case "number": {
        if (!Number.isFinite(value)) fail(here(), `must be a finite number (JSON has no ${String(value)})`);
        const n = value === 0 ? 0 : value;
        add(String(n).length);
        return n;
      }
      case "boolean":
        add(value ? 4 : 5);
        return value;
      case "object":
        break;
      default:
        fail(here(), `must be a JSON value, not ${value === undefined ? "undefined" : `a ${typeof value}`}`);
    }
    if (value === null) {
      add(4);
      return null;
    }
    if (depth > limits.maxJsonDepth) {
      fail(here(), `nested deeper than the limit of ${limits.maxJsonDepth} levels (maxJsonDepth)`, {
        limit: limits.maxJsonDepth,
      });
    }
    if (ancestors.has(value)) fail(here(), "must be JSON: it contains itself (circular reference)");
    ancestors.add(value);
    let result: Json;
    if (Array.isArray(value)) {
      const length = value.length;
      need(2 * length + 1); // brackets, commas and at least one byte per item
      add(2 + Math.max(0, length - 1));
      const out: Json[] = [];
      for (let i = 0; i < length; i++) {
        path.push(i);
        if (!Object.hasOwn(value, i)) fail(here(), "must be JSON: a sparse array has no item here");
        out.push(copy(value[i], depth + 1));
        path.pop();
      }
      result = out;
    } else {
      if (!isPlainObject(value)) fail(here(), `must be JSON, not ${describeValue(value)}`);
      const source = value as Record<string, unknown>;
      const out: JsonObject = {};
      let members = 0;
      add(2);
      for (const key of Object.keys(source)) {
        const v = source[key];
        if (v === undefined) continue;
        path.push(key);
        need(key.length + 3);
        add(stringBytes(key) + 1 + (members > 0 ? 1 : 0));
        setOwn(out, key, copy(v, depth + 1));
        path.pop();
        members++;
      }
      result = out;
    }
    ancestors.delete(value);
    return result;
  };

  return copy(root, 1) as JsonObject;
}

// ---------------------------------------------------------------------------------------
// Step 2: field validation on the copy

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function get(obj: JsonObject, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function has(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

function typeName(value: Json): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function expectString(field: string, value: Json, rule: string): string {
  if (typeof value !== "string") fail(field, `must be ${rule}, not ${typeName(value)}`);
  return value;
}

function matching(field: string, value: Json, pattern: RegExp, what: string): string {
  const s = expectString(field, value, what);
  if (!pattern.test(s)) fail(field, `${quote(s)} is not ${what} (${pattern.source})`, { pattern: pattern.source });
  return s;
}

function boundedString(field: string, value: Json, min: number, max: number): string {
  const s = expectString(field, value, `a string of ${min}..${max} characters`);
  if (s.length < min || s.length > max) {
    fail(field, `must be ${min}..${max} characters long, not ${s.length}`, { min, max });
  }
  return s;
}

function integer(field: string, value: Json, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    fail(field, `must be an integer in ${min}..${max}, not ${typeof value === "number" ? String(value) : typeName(value)}`, {
      min,
      max,
    });
  }
  if (value < min || value > max) fail(field, `must be in ${min}..${max}, not ${value}`, { min, max });
  return value;
}

function boolean(field: string, value: Json): boolean {
  if (typeof value !== "boolean") fail(field, `must be a boolean, not ${typeName(value)}`);
  return value;
}

function oneOf<T extends string>(field: string, value: Json, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const shown = typeof value === "string" ? quote(value) : typeName(value);
    fail(field, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, not ${shown}`, { allowed });
  }
  return value as T;
}

function array(field: string, value: Json): Json[] {
  if (!Array.isArray(value)) fail(field, `must be an array, not ${typeName(value)}`);
  return value;
}

function object(field: string, value: Json): JsonObject {
  if (!isObject(value)) fail(field, `must be an object, not ${typeName(value)}`);
  return value;
}

/** A positive integer of milliseconds, or null. */
function timeout(field: string, value: Json | undefined): number | null {
  if (value === undefined || value === null) return null;
  return integer(field, value, 1, maxTimeoutMs);
}

function stallTimeout(field: string, value: Json): number | null {
  if (value === null) return null;
  return integer(field, value, minStallTimeoutMs, maxTimeoutMs);
}

function parseLabels(field: string, value: Json): Record<string, string> {
  const source = object(field, value);
  const keys = Object.keys(source);
  if (keys.length > maxLabels) {
    fail(field, `has ${keys.length} labels, more than the limit of ${maxLabels}`, { limit: maxLabels });
  }
  const labels: Record<string, string> = {};
  for (const key of keys) {
    const f = member(field, key);
    if (!labelKeyPattern.test(key)) {
      fail(f, `label key ${quote(key)} is not valid (${labelKeyPattern.source})`, { pattern: labelKeyPattern.source });
    }
    setOwn(labels, key, boundedString(f, source[key]!, 0, maxLabelValueLength));
  }
  return labels;
}

function parseEnv(field: string, value: Json): Record<string, EnvValue> {
  const source = object(field, value);
  const env: Record<string, EnvValue> = {};
  for (const key of Object.keys(source)) {
    const f = member(field, key);
    if (key === "" || key.includes("=")) {
      fail(f, 'an environment variable name must be non-empty, without "="');
    }
    setOwn(env, key, parseEnvValue(f, source[key]!));
  }
  return env;
}

function parseCommand(field: string, value: Json): string[] | string {
  if (typeof value === "string") {
    if (value.trim() === "") fail(field, "must not be empty");
    if (value.length > maxCommandLength) {
      fail(field, `is longer than the limit of ${maxCommandLength} characters`, { limit: maxCommandLength });
    }
    return value;
  }
  if (!Array.isArray(value)) fail(field, `must be a string or an array of strings, not ${typeName(value)}`);
  if (value.length === 0) fail(field, "must not be empty: the first item is the program");
  return value.map((arg, i) => {
    const f = item(field, i);
    const s = expectString(f, arg, "a string");
    if (i === 0 && s.trim() === "") fail(f, "the program must not be empty");
    if (s.length > maxCommandLength) {
      fail(f, `is longer than the limit of ${maxCommandLength} characters`, { limit: maxCommandLength });
    }
    return s;
  });
}

const maxScriptLength = 100_000;
const maxSbatchArgs = 50;
const partitionPattern = keyPattern;
/** `minutes`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS` (sbatch --time), or "UNLIMITED". */
const slurmTimePattern = /^(?:\d{1,7}(?::\d{1,2}){0,2}|\d{1,4}-\d{1,2}(?::\d{1,2}){0,2}|UNLIMITED|unlimited|infinite|INFINITE)$/;
const slurmMemoryPattern = /^\d{1,12}[KMGT]?$/;
const gresPattern = /^[A-Za-z0-9_:,.-]{1,200}$/;
const sbatchArgPattern = /^--[a-z][a-z0-9-]{0,63}(?:=[^\s\0]{1,1000})?$/;
/**
 * sbatch options Belay sets itself: the output path (the task log reads it), the job name
 * (how recovery recognises the job), the working directory and environment (the artifacts
 * path), the script or command, and options that would keep sbatch waiting or turn the
 * job into something other than one batch job.
 */
const reservedSbatchOptions = new Set([
  "output", "error", "input", "job-name", "chdir", "export", "export-file", "wrap", "parsable",
  "wait", "array", "dependency", "hold", "test-only", "get-user-env", "uid", "gid", "kill-on-invalid-dep",
  "requeue", "open-mode", "batch", "propagate", "signal",
]);

function parseSlurm(task: JsonObject, f: (name: string) => string): SlurmSpec {
  const slurm: SlurmSpec = {};
  const script = get(task, "script");
  const command = get(task, "command");
  if (script !== undefined && command !== undefined) fail(f("command"), "cannot be combined with script: a slurm task runs one of them");
  if (script !== undefined) {
    slurm.script = boundedString(f("script"), script, 1, maxScriptLength);
    if (!slurm.script.startsWith("#!")) fail(f("script"), 'must start with "#!" (sbatch needs the interpreter line)');
    if (slurm.script.includes("\0")) fail(f("script"), "must not contain a NUL character");
  } else if (command !== undefined) {
    slurm.command = boundedString(f("command"), command, 1, maxCommandLength);
    if (slurm.command.trim() === "") fail(f("command"), "must not be empty");
    if (slurm.command.includes("\0")) fail(f("command"), "must not contain a NUL character");
  }
  const partition = get(task, "partition");
  if (partition !== undefined) slurm.partition = matching(f("partition"), partition, partitionPattern, "a partition name");
  const time = get(task, "time");
  if (time !== undefined) slurm.time = matching(f("time"), time, slurmTimePattern, "a Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS)");
  const cpus = get(task, "cpus");
  if (cpus !== undefined) slurm.cpus = integer(f("cpus"), cpus, 1, 4096);
  const memory = get(task, "memory");
  if (memory !== undefined) slurm.memory = matching(f("memory"), memory, slurmMemoryPattern, "a Slurm memory size (e.g. 512M, 4G)");
  const gres = get(task, "gres");
  if (gres !== undefined) slurm.gres = matching(f("gres"), gres, gresPattern, "a Slurm gres (e.g. gpu:1)");
  const env = get(task, "env");
  if (env !== undefined) {
    const parsed = parseEnv(f("env"), env);
    for (const [name, value] of Object.entries(parsed)) {
      // A secret is resolved on the node that spawns the process; a Slurm job's environment travels through the cluster.
      if (typeof value !== "string") fail(member(f("env"), name), "secret values are for process tasks only; a slurm task's env values are plain strings");
    }
    slurm.env = parsed as Record<string, string>;
    for (const name of Object.keys(slurm.env)) {
      if (name.startsWith("BELAY_") || name.startsWith("SLURM_")) fail(member(f("env"), name), "BELAY_ and SLURM_ variables are set by Belay and Slurm");
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) fail(member(f("env"), name), "must be a shell variable name (letters, digits, _)");
    }
  }
  const sbatchArgs = get(task, "sbatchArgs");
  if (sbatchArgs !== undefined) {
    const list = array(f("sbatchArgs"), sbatchArgs);
    if (list.length > maxSbatchArgs) fail(f("sbatchArgs"), `has more than the limit of ${maxSbatchArgs} options`, { limit: maxSbatchArgs });
    slurm.sbatchArgs = list.map((arg, i) => {
      const af = item(f("sbatchArgs"), i);
      const s = matching(af, arg, sbatchArgPattern, "one sbatch option as --name=value");
      const name = s.slice(2).split("=")[0]!;
      if (reservedSbatchOptions.has(name)) fail(af, `--${name} is set by Belay and cannot be given`, { option: name });
      return s;
    });
  }
  return slurm;
}

/** A task whose fields are checked but whose dependencies are not yet resolved. */
interface ParsedTask {
  spec: TaskSpec;
  /** Path of the task (`tasks[3]`), or `""` for the shorthand's task. */
  field: string;
}

/**
 * Validates one flat task. `field` is its path (`tasks[3]`), or `""` when it was built from
 * the top-level shorthand, whose fields are then named as at the top level.
 */
function parseTask(raw: Json, field: string, edges: { count: number }, limits: SpecLimits, templates: TemplateSet): TaskSpec {
  const task = object(field, raw);
  const f = (name: string): string => member(field, name);
  for (const name of Object.keys(task)) {
    if (!taskFields.has(name)) unknownField(f(name), name, taskFields);
  }

  const key = matching(f("key"), get(task, "key") ?? fail(f("key"), "required"), keyPattern, "a valid task key");

  // The kind: given, or implied by the one of command/handler/adapter that is present.
  const markers = [...new Set(inputKinds.map((k) => kindMarker[k]))].filter((name) => has(task, name));
  let kind: InputKind;
  const rawKind = get(task, "kind");
  if (rawKind !== undefined) {
    kind = oneOf(f("kind"), rawKind, inputKinds);
  } else {
    if (markers.length === 0) fail(f("kind"), "required: give kind, or one of command, handler, adapter, script, template");
    if (markers.length > 1) {
      fail(f(markers[1]!), `cannot be combined with ${markers[0]}: a task has one kind`);
    }
    kind = inputKinds.find((k) => kindMarker[k] === markers[0])!;
  }
  for (const name of Object.keys(task)) {
    if (allKindFields.includes(name) && !kindFields[kind].includes(name)) {
      const owners = inputKinds.filter((k) => kindFields[k].includes(name));
      fail(f(name), `only for ${owners.join(" and ")} tasks, not ${kind} tasks`, { kind });
    }
  }
  const marker = kind === "slurm" && !has(task, "script") ? "command" : kindMarker[kind];
  const markerValue = get(task, marker) ?? fail(f(kind === "slurm" ? "script" : marker), `required for a ${kind} task${kind === "slurm" ? ": give script or command" : ""}`);

  const spec: TaskSpec = { key, kind: kind === "template" ? "process" : kind, dependsOn: [], retries: 0, runOn: "normal", uses: [] };
  if (kind === "job") {
    spec.job = parseChildSpec(markerValue, f("job"), limits, templates);
  } else if (kind === "slurm") {
    spec.slurm = parseSlurm(task, f);
  } else if (kind === "template") {
    const name = matching(f("template"), markerValue, templateNamePattern, "a template name");
    const rawParams = get(task, "params") ?? {};
    const params = object(f("params"), rawParams);
    const { template, process } = expandTemplate(templates, name, params, f("params"));
    spec.process = process;
    spec.template = { name, params };
    if (template.graceMs !== undefined) spec.graceMs = template.graceMs;
    spec.uses = [...template.uses];
  } else if (kind === "process") {
    const process: ProcessSpec = { command: parseCommand(f("command"), markerValue) };
    const shell = get(task, "shell");
    if (shell !== undefined) process.shell = boolean(f("shell"), shell);
    const cwd = get(task, "cwd");
    if (cwd !== undefined) process.cwd = boundedString(f("cwd"), cwd, 1, maxCwdLength);
    const env = get(task, "env");
    if (env !== undefined) process.env = parseEnv(f("env"), env);
    spec.process = process;
  } else {
    const input = get(task, "input") ?? null;
    if (kind === "handler") {
      const handler: HandlerSpec = { handler: matching(f("handler"), markerValue, handlerPattern, "a handler name"), input };
      spec.handler = handler;
    } else {
      const remote: RemoteSpec = { adapter: matching(f("adapter"), markerValue, adapterPattern, "an adapter name"), input };
      spec.remote = remote;
    }
  }

  const retries = get(task, "retries");
  if (retries !== undefined) spec.retries = integer(f("retries"), retries, 0, maxRetries);
  const graceMs = get(task, "graceMs");
  if (graceMs !== undefined) spec.graceMs = integer(f("graceMs"), graceMs, 0, maxGraceMs);
  const stallTimeoutMs = get(task, "stallTimeoutMs");
  if (stallTimeoutMs !== undefined) spec.stallTimeoutMs = stallTimeout(f("stallTimeoutMs"), stallTimeoutMs);
  const runOn = get(task, "runOn");
  if (runOn !== undefined) spec.runOn = oneOf(f("runOn"), runOn, runOnValues);

  const uses = get(task, "uses");
  if (uses !== undefined) {
    const seen = new Map<string, number>();
    // A template's pools are held whatever the task asks; the task may add its own.
    const fromTemplate = spec.uses;
    spec.uses = array(f("uses"), uses).map((pool, i) => {
      const pf = item(f("uses"), i);
      const name = matching(pf, pool, poolPattern, "a pool name");
      const first = seen.get(name);
      if (first !== undefined) {
        fail(pf, `duplicate pool ${quote(name)} (also ${item(f("uses"), first)})`, { duplicateOf: item(f("uses"), first) });
      }
      seen.set(name, i);
      return name;
    });
    spec.uses = [...new Set([...fromTemplate, ...spec.uses])];
  }

  const dependsOn = get(task, "dependsOn");
  if (dependsOn !== undefined) {
    const df = f("dependsOn");
    const list = array(df, dependsOn);
    edges.count += list.length;
    if (edges.count > limits.maxEdges) {
      fail(df, `the job has more than the limit of ${limits.maxEdges} dependencies in all (maxEdges)`, {
        limit: limits.maxEdges,
      });
    }
    const seen = new Map<string, number>();
    spec.dependsOn = list.map((entry, j): Dependency => {
      const ef = item(df, j);
      const dep = parseDependency(ef, entry);
      const first = seen.get(dep.key);
      if (first !== undefined) {
        fail(ef, `duplicate dependency on ${quote(dep.key)} (also ${item(df, first)})`, {
          duplicateOf: item(df, first),
        });
      }
      seen.set(dep.key, j);
      return dep;
    });
  }
  return spec;
}

/** The child job of a `job` task: a whole job spec, validated as one (its errors name their field under `field`). */
function parseChildSpec(value: Json, field: string, limits: SpecLimits, templates: TemplateSet): JobSpec {
  object(field, value);
  if (nesting >= maxNestedJobTasks) fail(field, `job tasks nest more than ${maxNestedJobTasks} deep`, { limit: maxNestedJobTasks });
  nesting += 1;
  try {
    return parseJobSpec(value, { ...limits, templates });
  } catch (error) {
    if (!(error instanceof BelayError)) throw error;
    const inner = typeof error.details?.["field"] === "string" ? (error.details["field"] as string) : "";
    const path = inner === "" ? field : `${field}.${inner}`;
    const prefix = `${inner === "" ? "job spec" : inner}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    throw new BelayError("INVALID_REQUEST", `${path}: ${message}`, { details: { ...error.details, field: path } });
  } finally {
    nesting -= 1;
  }
}

function parseDependency(field: string, entry: Json): Dependency {
  if (typeof entry === "string") return { key: entry, onCancel: "cascade" };
  if (!isObject(entry)) fail(field, `must be a task key or {key, onCancel}, not ${typeName(entry)}`);
  for (const name of Object.keys(entry)) {
    if (!dependencyFields.has(name)) unknownField(member(field, name), name, dependencyFields);
  }
  const key = expectString(member(field, "key"), get(entry, "key") ?? fail(member(field, "key"), "required"), "a task key");
  const onCancel = get(entry, "onCancel");
  return { key, onCancel: onCancel === undefined ? "cascade" : oneOf(member(field, "onCancel"), onCancel, cancelPolicies) };
}

/** Checks what needs the whole task list: dependency targets, runOn rules, cycles. */
function checkGraph(tasks: ParsedTask[]): void {
  const byKey = new Map<string, number>();
  tasks.forEach(({ spec }, i) => byKey.set(spec.key, i));
  tasks.forEach(({ spec, field }) => {
    spec.dependsOn.forEach((dep, j) => {
      const f = item(member(field, "dependsOn"), j);
      const target = byKey.get(dep.key);
      if (target === undefined) {
        const suggestion = closest(dep.key, byKey.keys());
        fail(f, `unknown task ${quote(dep.key)}${suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`}`, {
          key: dep.key,
          ...(suggestion === undefined ? {} : { suggestion }),
        });
      }
      if (dep.key === spec.key) fail(f, "a task cannot depend on itself", { key: dep.key });
      const other = tasks[target]!.spec;
      if (spec.runOn === "normal" && other.runOn === "cancel") {
        fail(
          f,
          `${quote(dep.key)} is a compensation task (runOn "cancel"): it runs only after the job is cancelled, ` +
            "so a normal task cannot wait for it",
          { key: dep.key },
        );
      }
      if (spec.runOn === "cancel" && other.runOn === "normal") {
        fail(
          f,
          `a compensation task (runOn "cancel") can depend only on compensation tasks, and ${quote(dep.key)} is normal: ` +
            "after a cancellation, normal tasks do not run, so it might never finish",
          { key: dep.key },
        );
      }
    });
  });
  const cycle = findCycle(tasks.map((t) => t.spec));
  if (cycle !== null) fail("tasks", `dependency cycle ${cycle.join(" → ")}`, { cycle });
  if (!tasks.some(({ spec }) => spec.runOn === "normal")) {
    fail("tasks", 'needs at least one normal task: compensation tasks (runOn "cancel") run only after a cancellation');
  }
}

function parseTasks(value: Json, limits: SpecLimits, templates: TemplateSet): TaskSpec[] {
  const list = array("tasks", value);
  if (list.length === 0) fail("tasks", "must have at least one task");
  if (list.length > limits.maxTasks) {
    fail("tasks", `has ${list.length} tasks, more than the limit of ${limits.maxTasks} (maxTasks)`, {
      limit: limits.maxTasks,
    });
  }
  const edges = { count: 0 };
  const seen = new Map<string, number>();
  const tasks = list.map((raw, i): ParsedTask => {
    const field = item("tasks", i);
    const spec = parseTask(raw, field, edges, limits, templates);
    const first = seen.get(spec.key);
    if (first !== undefined) {
      fail(`${field}.key`, `duplicate key ${quote(spec.key)} (also tasks[${first}].key)`, {
        duplicateOf: `tasks[${first}].key`,
      });
    }
    seen.set(spec.key, i);
    return { spec, field };
  });
  checkGraph(tasks);
  return tasks.map((t) => t.spec);
}

/** The one task of a shorthand spec (`command`, `handler` or `adapter` at the top level). */
function parseShorthand(root: JsonObject, limits: SpecLimits, templates: TemplateSet): TaskSpec[] {
  const markers = shorthandKinds.map((k) => kindMarker[k]).filter((name) => has(root, name));
  if (markers.length === 0) {
    fail("tasks", "required: give tasks, or one of command, handler, adapter for a one-task job");
  }
  if (markers.length > 1) fail(markers[1]!, `cannot be combined with ${markers[0]}: the shorthand makes one task`);
  const raw: JsonObject = { key: "main" };
  for (const name of shorthandFields) {
    const value = get(root, name);
    if (value !== undefined) raw[name] = value;
  }
  return [parseTask(raw, "", { count: 0 }, limits, templates)];
}

/** The default name: the program, handler or adapter of a one-task job, else "job". */
function defaultName(tasks: TaskSpec[]): string {
  const only = tasks.length === 1 ? tasks[0] : undefined;
  let name = "";
  if (only?.template !== undefined) name = only.template.name;
  else if (only?.process !== undefined) {
    const command = only.process.command;
    const word = (typeof command === "string" ? command.trim().split(/\s+/)[0] : command[0]) ?? "";
    name = word.slice(word.lastIndexOf("/") + 1) || word;
  } else if (only?.handler !== undefined) name = only.handler.handler;
  else if (only?.remote !== undefined) name = only.remote.adapter;
  else if (only?.slurm !== undefined) name = "slurm";
  else if (only?.job !== undefined) name = only.job.name;
  name = name.slice(0, maxNameLength);
  return name.trim() === "" ? "job" : name;
}

/**
 * Validates a raw job spec and returns it normalised: defaults filled in, dependencies as
 * `{key, onCancel}`, the one-task shorthand expanded into `tasks`. Throws
 * `BelayError("INVALID_REQUEST")` naming the offending field in its message and in
 * `details.field` (plus `details.limit`, `details.cycle`, `details.suggestion`, … where
 * they apply), and never anything else, whatever `input` is.
 */
export function parseJobSpec(input: unknown, options?: Partial<SpecLimits> & { templates?: TemplateSet | undefined }): JobSpec {
  const limits: SpecLimits = { ...defaultSpecLimits };
  const templates: TemplateSet = options?.templates ?? new Map();
  for (const [name, value] of Object.entries(options ?? {}) as [keyof SpecLimits | "templates", unknown][]) {
    if (value !== undefined && name !== "templates") limits[name] = value as number;
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    fail("", `must be a JSON object, not ${input === null ? "null" : Array.isArray(input) ? "an array" : typeof input}`);
  }

  let root: JsonObject;
  try {
    if (!isPlainObject(input)) fail("", `must be a plain JSON object, not ${describeValue(input)}`);
    root = copyJson(input, limits);
  } catch (error) {
    if (error instanceof BelayError) throw error;
    // Reading the input itself failed: a throwing getter, a revoked proxy, …
    throw new BelayError("INVALID_REQUEST", "job spec: could not be read as JSON", {
      details: { field: "", reason: "unreadable" },
      cause: error,
    });
  }

  for (const name of Object.keys(root)) {
    if (!topLevelFields.has(name)) unknownField(member("", name), name, topLevelFields);
  }

  const rawName = get(root, "name");
  let name: string | undefined;
  if (rawName !== undefined) {
    name = boundedString("name", rawName, 1, maxNameLength);
    if (name.trim() === "") fail("name", "must not be only whitespace");
  }
  const rawQueue = get(root, "queue");
  const queue = rawQueue === undefined ? "default" : matching("queue", rawQueue, queuePattern, "a valid queue name");
  const rawPriority = get(root, "priority");
  const priority = rawPriority === undefined ? 0 : integer("priority", rawPriority, -maxPriority, maxPriority);
  const rawLabels = get(root, "labels");
  const labels = rawLabels === undefined ? {} : parseLabels("labels", rawLabels);
  const params = get(root, "params") ?? null;
  const paramsBytes = jsonBytes(params);
  if (paramsBytes > limits.maxParamsBytes) {
    fail("params", `is ${paramsBytes} bytes of JSON, more than the limit of ${limits.maxParamsBytes} (maxParamsBytes)`, {
      limit: limits.maxParamsBytes,
    });
  }
  const timeoutMs = timeout("timeoutMs", get(root, "timeoutMs"));
  const queueTimeoutMs = timeout("queueTimeoutMs", get(root, "queueTimeoutMs"));
  const rawStall = get(root, "stallTimeoutMs");
  const stallTimeoutMs = rawStall === undefined ? undefined : stallTimeout("stallTimeoutMs", rawStall);
  const rawGrace = get(root, "graceMs");
  const graceMs = rawGrace === undefined ? 10_000 : integer("graceMs", rawGrace, 0, maxGraceMs);
  const rawFailFast = get(root, "failFast");
  const failFast = rawFailFast === undefined ? false : boolean("failFast", rawFailFast);
  const rawIdempotencyKey = get(root, "idempotencyKey");
  const idempotencyKey =
    rawIdempotencyKey === undefined || rawIdempotencyKey === null
      ? null
      : boundedString("idempotencyKey", rawIdempotencyKey, 1, maxIdempotencyKeyLength);

  const rawOnParentCancel = get(root, "onParentCancel");
  const onParentCancel = rawOnParentCancel === undefined ? undefined : oneOf("onParentCancel", rawOnParentCancel, onParentCancelValues);

  let tasks: TaskSpec[];
  const rawTasks = get(root, "tasks");
  if (rawTasks !== undefined) {
    for (const field of shorthandFields) {
      if (has(root, field)) fail(field, 'not allowed together with "tasks": set it on a task');
    }
    tasks = parseTasks(rawTasks, limits, templates);
  } else {
    tasks = parseShorthand(root, limits, templates);
  }
  // A job's stall timeout is each task's unless the task sets its own (null included): the
  // task row carries what the watchdog needs, so no job column is read on the hot path.
  if (stallTimeoutMs !== undefined && stallTimeoutMs !== null) {
    for (const task of tasks) if (task.stallTimeoutMs === undefined) task.stallTimeoutMs = stallTimeoutMs;
  }

  return {
    name: name ?? defaultName(tasks),
    queue,
    priority,
    labels,
    params,
    tasks,
    timeoutMs,
    queueTimeoutMs,
    // Only when given: specs without it (and those stored before it existed) read the same.
    ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }),
    graceMs,
    failFast,
    idempotencyKey,
    ...(onParentCancel === undefined ? {} : { onParentCancel }),
  };
}
