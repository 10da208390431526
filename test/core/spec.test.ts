import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isBelayError, type BelayError } from "../../src/core/errors.ts";
import { maxGraceMs } from "../../src/core/grace.ts";
import { topologicalOrder } from "../../src/core/graph.ts";
import type { JobSpec, TaskSpec } from "../../src/core/model.ts";
import {
  defaultSpecLimits,
  maxTimeoutMs,
  parseJobSpec,
  type JobSpecInput,
  type SpecLimits,
  type TaskSpecInput,
} from "../../src/core/spec.ts";

// ---------------------------------------------------------------------------------------
// Helpers

/** Parses `input`, expecting INVALID_REQUEST on `field`; returns the error's details. */
function rejects(input: unknown, field: string, limits?: Partial<SpecLimits>): Record<string, unknown> {
  let error: unknown;
  try {
    parseJobSpec(input, limits);
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) return expect.fail(`expected INVALID_REQUEST on "${field}", but the spec was accepted`);
  expect(isBelayError(error, "INVALID_REQUEST"), String(error)).toBe(true);
  const details = (error as BelayError).details ?? {};
  expect(details["field"], (error as BelayError).message).toBe(field);
  return details;
}

/** A valid task of each kind, to build specs from. */
const proc = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ key, command: ["true"], ...extra });
const job = (...tasks: unknown[]): Record<string, unknown> => ({ tasks });

/** The flat input form of a normalised spec (what a client would resubmit). */
function toInput(spec: JobSpec): JobSpecInput {
  const tasks = spec.tasks.map((task: TaskSpec): TaskSpecInput => {
    const { process, handler, remote, ...common } = task;
    return { ...common, ...(process ?? handler ?? remote) } as TaskSpecInput;
  });
  return { ...spec, tasks };
}

/** What every accepted spec must satisfy. */
function checkValid(spec: JobSpec): void {
  expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec);
  expect(parseJobSpec(toInput(spec))).toStrictEqual(spec);
  expect(topologicalOrder(spec.tasks)).toHaveLength(spec.tasks.length);
  expect(spec.tasks.some((t) => t.runOn === "normal")).toBe(true);
  for (const task of spec.tasks) {
    expect([task.process, task.handler, task.remote].filter((k) => k !== undefined)).toHaveLength(1);
  }
}

/** Parses `input`: either a valid spec, or an INVALID_REQUEST naming a field; nothing else. */
function outcome(input: unknown, limits?: Partial<SpecLimits>): "valid" | "invalid" {
  let spec: JobSpec;
  try {
    spec = parseJobSpec(input, limits);
  } catch (error) {
    if (!isBelayError(error, "INVALID_REQUEST")) throw error;
    const field = error.details?.["field"];
    expect(typeof field).toBe("string");
    expect(error.message.startsWith(field === "" ? "job spec: " : `${String(field)}: `), error.message).toBe(true);
    expect(error.details?.["reason"]).not.toBe("unreadable");
    return "invalid";
  }
  checkValid(spec);
  return "valid";
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

// ---------------------------------------------------------------------------------------
// Normalisation

describe("parseJobSpec: valid specs", () => {
  it("expands the command shorthand and fills every default", () => {
    expect(parseJobSpec({ command: "echo hello" })).toStrictEqual({
      name: "echo",
      queue: "default",
      priority: 0,
      labels: {},
      params: null,
      tasks: [{ key: "main", kind: "process", dependsOn: [], retries: 0, runOn: "normal", uses: [], process: { command: "echo hello" } }],
      timeoutMs: null,
      queueTimeoutMs: null,
      graceMs: 10_000,
      failFast: false,
      idempotencyKey: null,
    } satisfies JobSpec);
  });

  it("takes shell, cwd and env with the command shorthand", () => {
    const spec = parseJobSpec({ command: "make all", shell: true, cwd: "/src", env: { CC: "clang" } });
    expect(spec.tasks[0]!.process).toStrictEqual({ command: "make all", shell: true, cwd: "/src", env: { CC: "clang" } });
  });

  it("expands the handler and adapter shorthands, input defaulting to null", () => {
    const h = parseJobSpec({ handler: "simulate", input: { steps: 10 } });
    expect(h.name).toBe("simulate");
    expect(h.tasks).toStrictEqual([
      { key: "main", kind: "handler", dependsOn: [], retries: 0, runOn: "normal", uses: [], handler: { handler: "simulate", input: { steps: 10 } } },
    ]);
    const r = parseJobSpec({ adapter: "http" });
    expect(r.name).toBe("http");
    expect(r.tasks[0]!.kind).toBe("remote");
    expect(r.tasks[0]!.remote).toStrictEqual({ adapter: "http", input: null });
  });

  it("normalises a full spec", () => {
    const spec = parseJobSpec({
      name: "pipeline",
      queue: "gpu:high",
      priority: -5,
      labels: { team: "data", "app.kubernetes.io/name": "x" },
      params: { dataset: "s3://bucket", n: [1, 2.5, null] },
      timeoutMs: 3_600_000,
      queueTimeoutMs: 60_000,
      graceMs: 0,
      failFast: true,
      idempotencyKey: "run-42",
      tasks: [
        { key: "build", command: ["make", "all"], uses: ["repo"], retries: 2, graceMs: 500 },
        { key: "test", kind: "handler", handler: "runTests", input: [1], dependsOn: ["build"] },
        { key: "deploy", adapter: "http", dependsOn: [{ key: "test", onCancel: "skip" }, { key: "build" }] },
        { key: "undo", handler: "rollback", runOn: "cancel" },
        { key: "undo2", handler: "rollback", runOn: "cancel", dependsOn: ["undo"] },
      ],
    });
    expect(spec).toStrictEqual({
      name: "pipeline",
      queue: "gpu:high",
      priority: -5,
      labels: { team: "data", "app.kubernetes.io/name": "x" },
      params: { dataset: "s3://bucket", n: [1, 2.5, null] },
      timeoutMs: 3_600_000,
      queueTimeoutMs: 60_000,
      graceMs: 0,
      failFast: true,
      idempotencyKey: "run-42",
      tasks: [
        { key: "build", kind: "process", dependsOn: [], retries: 2, graceMs: 500, runOn: "normal", uses: ["repo"], process: { command: ["make", "all"] } },
        {
          key: "test",
          kind: "handler",
          dependsOn: [{ key: "build", onCancel: "cascade" }],
          retries: 0,
          runOn: "normal",
          uses: [],
          handler: { handler: "runTests", input: [1] },
        },
        {
          key: "deploy",
          kind: "remote",
          dependsOn: [
            { key: "test", onCancel: "skip" },
            { key: "build", onCancel: "cascade" },
          ],
          retries: 0,
          runOn: "normal",
          uses: [],
          remote: { adapter: "http", input: null },
        },
        { key: "undo", kind: "handler", dependsOn: [], retries: 0, runOn: "cancel", uses: [], handler: { handler: "rollback", input: null } },
        {
          key: "undo2",
          kind: "handler",
          dependsOn: [{ key: "undo", onCancel: "cascade" }],
          retries: 0,
          runOn: "cancel",
          uses: [],
          handler: { handler: "rollback", input: null },
        },
      ],
    } satisfies JobSpec);
    checkValid(spec);
  });

  it("derives the name of a one-task job from its program, else 'job'", () => {
    expect(parseJobSpec({ command: "  /usr/bin/python3 train.py --epochs 3" }).name).toBe("python3");
    expect(parseJobSpec({ command: ["./run.sh", "x"] }).name).toBe("run.sh");
    expect(parseJobSpec({ command: ["/"] }).name).toBe("/");
    expect(parseJobSpec({ command: ["x".repeat(500)] }).name).toBe("x".repeat(200));
    expect(parseJobSpec(job(proc("a"))).name).toBe("true");
    expect(parseJobSpec(job({ key: "a", handler: "h" })).name).toBe("h");
    expect(parseJobSpec(job(proc("a"), proc("b"))).name).toBe("job");
    expect(parseJobSpec({ name: "mine", command: "ls" }).name).toBe("mine");
  });

  it("accepts the bounds of every bounded field", () => {
    const spec = parseJobSpec({
      name: "n".repeat(200),
      queue: "q".repeat(100),
      priority: 1_000_000,
      labels: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v".repeat(200)])),
      timeoutMs: maxTimeoutMs,
      queueTimeoutMs: 1,
      graceMs: maxGraceMs,
      idempotencyKey: "i".repeat(200),
      tasks: [proc("k".repeat(100), { retries: 100, graceMs: 0, command: ["c".repeat(10_000), ""] })],
    });
    expect(spec.priority).toBe(1_000_000);
    expect(parseJobSpec({ command: "x", priority: -1_000_000 }).priority).toBe(-1_000_000);
    expect(parseJobSpec({ command: "x", labels: { a: "" } }).labels).toStrictEqual({ a: "" });
  });

  it("treats undefined fields as absent and explicit nulls as the default", () => {
    const spec = parseJobSpec({
      command: "x",
      name: undefined,
      tasks: undefined,
      timeoutMs: null,
      queueTimeoutMs: undefined,
      idempotencyKey: null,
      params: null,
    });
    expect(spec.name).toBe("x");
    expect(spec.timeoutMs).toBeNull();
    expect(spec.idempotencyKey).toBeNull();
    expect(spec.params).toBeNull();
  });

  it("turns -0 into 0", () => {
    const spec = parseJobSpec({ command: "x", priority: -0, graceMs: -0, params: [-0] });
    expect(Object.is(spec.priority, 0)).toBe(true);
    expect(Object.is(spec.graceMs, 0)).toBe(true);
    expect(Object.is((spec.params as number[])[0], 0)).toBe(true);
  });

  it("keeps a __proto__ key as data without touching any prototype", () => {
    const input = JSON.parse('{"command":"x","labels":{"__proto__":"v"},"params":{"__proto__":{"polluted":true}}}') as unknown;
    const spec = parseJobSpec(input);
    expect(Object.keys(spec.labels)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(spec.labels)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(spec.params)).toBe(Object.prototype);
    expect(JSON.stringify(spec.params)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("accepts objects with a null prototype", () => {
    const input = Object.assign(Object.create(null) as object, { command: "x", params: Object.assign(Object.create(null) as object, { a: 1 }) });
    expect(parseJobSpec(input).params).toStrictEqual({ a: 1 });
  });
});

// ---------------------------------------------------------------------------------------
// The input is never mutated and never shared

describe("parseJobSpec: input isolation", () => {
  const full = (): Record<string, unknown> => ({
    labels: { a: "b" },
    params: { deep: { list: [1, { x: 2 }] } },
    tasks: [
      { key: "a", command: ["run", "it"], env: { A: "1" }, uses: ["gpu"] },
      { key: "b", handler: "h", input: { nested: [1, 2] }, dependsOn: [{ key: "a", onCancel: "skip" }] },
    ],
  });

  it("parses a deeply frozen input (so it writes nothing to it)", () => {
    expect(() => parseJobSpec(deepFreeze(full()))).not.toThrow();
    expect(() => parseJobSpec(deepFreeze({ command: ["x"], env: { A: "1" } }))).not.toThrow();
  });

  it("returns objects that later changes to the input cannot reach", () => {
    const input = full();
    const spec = parseJobSpec(input);
    const before = structuredClone(spec);
    const tasks = input["tasks"] as Record<string, unknown>[];
    expect(spec.params).not.toBe(input["params"]);
    expect(spec.tasks[1]!.handler!.input).not.toBe(tasks[1]!["input"]);
    (input["labels"] as Record<string, string>)["a"] = "changed";
    ((input["params"] as { deep: { list: unknown[] } }).deep.list[1] as Record<string, number>)["x"] = 99;
    (tasks[0]!["command"] as string[]).push("more");
    (tasks[0]!["env"] as Record<string, string>)["B"] = "2";
    (tasks[0]!["uses"] as string[]).push("repo");
    (tasks[1]!["input"] as { nested: number[] }).nested.push(3);
    (tasks[1]!["dependsOn"] as Record<string, string>[])[0]!["onCancel"] = "cascade";
    tasks.push({ key: "c", command: "x" });
    expect(spec).toStrictEqual(before);
  });
});

// ---------------------------------------------------------------------------------------
// Errors

describe("parseJobSpec: the spec itself", () => {
  it.each([
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["a string", '{"command":"x"}'],
    ["an array", [{ command: "x" }]],
    ["a function", () => ({ command: "x" })],
    ["a Date", new Date()],
    ["a Map", new Map([["command", "x"]])],
    ["a class instance", new (class Spec { command = "x"; })()],
  ])("refuses %s", (_name, input) => {
    rejects(input, "");
  });

  it("refuses unknown top-level fields, suggesting the likely one", () => {
    expect(rejects({ comand: "x" }, "comand")["suggestion"]).toBe("command");
    expect(rejects({ command: "x", timeout: 5 }, "timeout")["suggestion"]).toBe("timeoutMs");
    expect(rejects({ command: "x", owner: "me" }, "owner")["suggestion"]).toBeUndefined();
    rejects({ command: "x", kind: "process" }, "kind");
    rejects({ command: "x", retries: 1 }, "retries");
    rejects({ command: "x", "a b": 1 }, '["a b"]');
  });

  it("names a unreadable input without throwing anything else", () => {
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("boom");
        },
      },
    );
    const details = rejects(proxy, "");
    expect(details["reason"]).toBe("unreadable");
    const getter = Object.defineProperty({ command: "x" }, "params", {
      enumerable: true,
      get() {
        throw new TypeError("nope");
      },
    });
    expect(rejects(getter, "")["reason"]).toBe("unreadable");
  });
});

describe("parseJobSpec: JSON values", () => {
  it.each([
    ["NaN", { params: { x: Number.NaN } }, "params.x"],
    ["Infinity", { params: [1, Number.POSITIVE_INFINITY] }, "params[1]"],
    ["a bigint", { params: { n: 1n } }, "params.n"],
    ["a symbol", { params: { s: Symbol("s") } }, "params.s"],
    ["a function", { input: () => 1, handler: "h" }, "input"],
    ["a Date", { params: { when: new Date(0) } }, "params.when"],
    ["a Map", { params: new Map() }, "params"],
    ["a boxed string", { params: { "odd key": new String("x") } }, 'params["odd key"]'],
    ["a typed array", { params: new Uint8Array(2) }, "params"],
    ["undefined in an array", { params: [1, undefined] }, "params[1]"],
    // eslint-disable-next-line no-sparse-arrays
    ["a sparse array", { params: [1, , 3] }, "params[1]"],
    ["a non-finite priority", { priority: Number.NaN }, "priority"],
  ])("refuses %s", (_name, fields, field) => {
    rejects({ command: "x", ...fields }, field);
  });

  it("refuses a NUL character or a lone surrogate anywhere, keys included", () => {
    rejects({ command: "x", params: { note: "a\u0000b" } }, "params.note");
    rejects({ command: "x", params: { "k\u0000": 1 } }, 'params["k\\u0000"]');
    rejects({ command: "x", labels: { a: "\ud800" } }, "labels.a");
    rejects({ command: "x", params: ["ok", "\udc00x"] }, "params[1]");
    rejects({ command: ["ls", "a\u0000b"] }, "command[1]");
    rejects({ name: "x\ud83d", command: "x" }, "name");
    expect(parseJobSpec({ command: "x", params: "\ud83d\ude00" }).params).toBe("😀");
  });

  it("drops object properties whose value is undefined", () => {
    expect(parseJobSpec({ command: "x", params: { a: undefined, b: 1 } }).params).toStrictEqual({ b: 1 });
  });

  it("refuses a circular value", () => {
    const params: Record<string, unknown> = { a: [] };
    (params["a"] as unknown[]).push(params);
    rejects({ command: "x", params }, "params.a[0]");
  });

  it("accepts a value used twice that is not circular", () => {
    const shared = { v: 1 };
    expect(parseJobSpec({ command: "x", params: [shared, shared] }).params).toStrictEqual([{ v: 1 }, { v: 1 }]);
  });

  it("bounds the nesting depth (maxJsonDepth)", () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    // The spec is level 1 and params level 2: 63 nested arrays fit in the default 64 levels.
    expect(() => parseJobSpec({ command: "x", params: nest(63) })).not.toThrow();
    const details = rejects({ command: "x", params: nest(64) }, `params${"[0]".repeat(63)}`);
    expect(details["limit"]).toBe(64);
    rejects({ command: "x", params: nest(5) }, "params[0][0][0]", { maxJsonDepth: 4 });
    // A very deep value is refused, not a stack overflow.
    rejects({ command: "x", params: nest(100_000) }, `params${"[0]".repeat(63)}`);
  });
});

describe("parseJobSpec: sizes", () => {
  it("bounds the whole spec (maxSpecBytes), saying the limit", () => {
    const details = rejects({ command: "x", params: "p".repeat(200 * 1024), input: undefined, labels: { a: "x" }, env: { BIG: "e".repeat(900 * 1024) } }, "");
    expect(details["limit"]).toBe(defaultSpecLimits.maxSpecBytes);
    rejects({ command: "x", params: new Array(10_000_000) }, "");
    rejects({ command: "x".repeat(10_000_000) }, "");
  });

  it("measures exactly the UTF-8 bytes of the compact JSON", () => {
    // Every UTF-16 code unit but NUL, surrogates only in pairs (both refused otherwise).
    const anyString = fc.array(fc.oneof(fc.integer({ min: 1, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff }))).map((codes) =>
      String.fromCodePoint(...codes),
    );
    const json = fc.jsonValue({ maxDepth: 3 });
    const params = fc.oneof(json, anyString, fc.dictionary(anyString, fc.oneof(anyString, json), { maxKeys: 4 }));
    fc.assert(
      fc.property(params, (p) => {
        const spec = { command: "x", params: p };
        const size = bytes(spec);
        expect(() => parseJobSpec(spec, { maxSpecBytes: size })).not.toThrow();
        rejects(spec, "", { maxSpecBytes: size - 1 });
        const paramsSize = bytes(p);
        expect(() => parseJobSpec(spec, { maxParamsBytes: paramsSize })).not.toThrow();
        expect(rejects(spec, "params", { maxParamsBytes: paramsSize - 1 })["limit"]).toBe(paramsSize - 1);
      }),
      { numRuns: 500 },
    );
  });

  it("bounds params (maxParamsBytes)", () => {
    const params = { blob: "b".repeat(256 * 1024) };
    expect(rejects({ command: "x", params }, "params")["limit"]).toBe(256 * 1024);
    expect(() => parseJobSpec({ command: "x", params: { blob: "b".repeat(256 * 1024 - 20) } })).not.toThrow();
  });

  it("bounds the number of tasks (maxTasks)", () => {
    const tasks = (n: number): unknown[] => Array.from({ length: n }, (_, i) => proc(`t${i}`));
    expect(parseJobSpec({ tasks: tasks(1000) }).tasks).toHaveLength(1000);
    expect(rejects({ tasks: tasks(1001) }, "tasks")["limit"]).toBe(1000);
    expect(rejects({ tasks: tasks(3) }, "tasks", { maxTasks: 2 })["limit"]).toBe(2);
  });

  it("bounds the number of dependency edges (maxEdges)", () => {
    const tasks = [proc("a"), proc("b"), proc("c", { dependsOn: ["a", "b"] }), proc("d", { dependsOn: ["a", "b"] })];
    expect(() => parseJobSpec({ tasks }, { maxEdges: 4 })).not.toThrow();
    expect(rejects({ tasks }, "tasks[3].dependsOn", { maxEdges: 3 })["limit"]).toBe(3);
  });

  it("parses a large graph quickly", () => {
    // 1000 tasks, 9 edges each (8955 edges), as a layered DAG.
    const tasks = Array.from({ length: 1000 }, (_, i) =>
      proc(`t${i}`, { dependsOn: Array.from({ length: Math.min(i, 9) }, (_, j) => `t${i - j - 1}`) }),
    );
    const started = performance.now();
    const spec = parseJobSpec({ tasks });
    expect(spec.tasks[999]!.dependsOn).toHaveLength(9);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("parseJobSpec: top-level fields", () => {
  it.each([
    ["name", ""],
    ["name", "   "],
    ["name", "n".repeat(201)],
    ["name", 5],
    ["queue", ""],
    ["queue", "has space"],
    ["queue", "q".repeat(101)],
    ["queue", null],
    ["priority", 1.5],
    ["priority", "1"],
    ["priority", 1_000_001],
    ["priority", -1_000_001],
    ["labels", []],
    ["labels", "a=b"],
    ["labels", null],
    ["timeoutMs", 0],
    ["timeoutMs", -1],
    ["timeoutMs", 1.5],
    ["timeoutMs", "60000"],
    ["timeoutMs", maxTimeoutMs + 1],
    ["queueTimeoutMs", 0],
    ["queueTimeoutMs", true],
    ["graceMs", -1],
    ["graceMs", maxGraceMs + 1],
    ["graceMs", null],
    ["graceMs", 0.5],
    ["failFast", "true"],
    ["failFast", 1],
    ["idempotencyKey", ""],
    ["idempotencyKey", "i".repeat(201)],
    ["idempotencyKey", 7],
  ])("refuses %s = %j", (field, value) => {
    rejects({ command: "x", [field]: value }, field);
  });

  it("refuses bad labels, naming the label", () => {
    rejects({ command: "x", labels: { "bad key": "v" } }, 'labels["bad key"]');
    rejects({ command: "x", labels: { team: 1 } }, "labels.team");
    rejects({ command: "x", labels: { team: "v".repeat(201) } }, "labels.team");
    rejects({ command: "x", labels: { ["k".repeat(101)]: "v" } }, `labels[${JSON.stringify("k".repeat(100) + "…")}]`);
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]));
    expect(rejects({ command: "x", labels: many }, "labels")["limit"]).toBe(50);
  });
});

describe("parseJobSpec: shorthand", () => {
  it("refuses a shorthand field beside tasks", () => {
    for (const field of ["command", "shell", "cwd", "env", "handler", "adapter", "input"]) {
      rejects({ tasks: [proc("a")], [field]: "x" }, field);
    }
  });

  it("refuses two shorthands at once", () => {
    rejects({ command: "x", handler: "h" }, "handler");
    rejects({ handler: "h", adapter: "http" }, "adapter");
  });

  it("needs tasks or a shorthand", () => {
    rejects({}, "tasks");
    rejects({ name: "x", input: 1 }, "tasks");
    rejects({ shell: true }, "tasks");
  });

  it("refuses a field of another kind", () => {
    rejects({ handler: "h", shell: true }, "shell");
    rejects({ adapter: "http", env: {} }, "env");
    rejects({ command: "x", input: { a: 1 } }, "input");
  });

  it("names top-level fields in the shorthand's errors", () => {
    rejects({ command: "" }, "command");
    rejects({ command: ["ok", 1] }, "command[1]");
    rejects({ command: "x", env: { A: 1 } }, "env.A");
    rejects({ handler: "not-an-identifier" }, "handler");
  });
});

describe("parseJobSpec: tasks", () => {
  it.each([
    ["not an array", { tasks: { a: proc("a") } }, "tasks"],
    ["empty", { tasks: [] }, "tasks"],
    ["a task not an object", job(proc("a"), "b"), "tasks[1]"],
    ["a task array", job([]), "tasks[0]"],
    ["an unknown task field", job(proc("a", { name: "x" })), "tasks[0].name"],
    ["a missing key", job({ command: "x" }), "tasks[0].key"],
    ["a bad key", job(proc("a b")), "tasks[0].key"],
    ["a long key", job(proc("k".repeat(101))), "tasks[0].key"],
    ["a numeric key", job(proc(1 as unknown as string)), "tasks[0].key"],
    ["an unknown kind", job(proc("a", { kind: "shell" })), "tasks[0].kind"],
    ["no kind and no kind field", job({ key: "a" }), "tasks[0].kind"],
    ["two kind fields", job({ key: "a", command: "x", handler: "h" }), "tasks[0].handler"],
    ["a field of another kind", job(proc("a", { kind: "process", input: 1 })), "tasks[0].input"],
    ["a handler field on a process task", job(proc("a", { handler: "h" })), "tasks[0].handler"],
    ["a process field on a handler task", job({ key: "a", kind: "handler", handler: "h", cwd: "/" }), "tasks[0].cwd"],
    ["a kind without its field", job({ key: "a", kind: "process" }), "tasks[0].command"],
    ["a kind contradicting its field", job({ key: "a", kind: "remote", handler: "h" }), "tasks[0].handler"],
    ["an empty command", job(proc("a", { command: "" })), "tasks[0].command"],
    ["a blank command", job(proc("a", { command: " \t" })), "tasks[0].command"],
    ["an empty argv", job(proc("a", { command: [] })), "tasks[0].command"],
    ["an empty program", job(proc("a", { command: ["", "x"] })), "tasks[0].command[0]"],
    ["a non-string argument", job(proc("a", { command: ["ls", 1] })), "tasks[0].command[1]"],
    ["a long argument", job(proc("a", { command: ["ls", "x".repeat(10_001)] })), "tasks[0].command[1]"],
    ["a long command", job(proc("a", { command: "x".repeat(10_001) })), "tasks[0].command"],
    ["a NUL in the command", job(proc("a", { command: ["ls", "a\0b"] })), "tasks[0].command[1]"],
    ["a command object", job(proc("a", { command: { run: "x" } })), "tasks[0].command"],
    ["a non-boolean shell", job(proc("a", { shell: "yes" })), "tasks[0].shell"],
    ["an empty cwd", job(proc("a", { cwd: "" })), "tasks[0].cwd"],
    ["a cwd with NUL", job(proc("a", { cwd: "/a\0" })), "tasks[0].cwd"],
    ["a non-object env", job(proc("a", { env: ["A=1"] })), "tasks[0].env"],
    ["a non-string env value", job(proc("a", { env: { A: 1 } })), "tasks[0].env.A"],
    ["an env name with =", job(proc("a", { env: { "A=B": "1" } })), 'tasks[0].env["A=B"]'],
    ["an empty env name", job(proc("a", { env: { "": "1" } })), 'tasks[0].env[""]'],
    ["a bad handler name", job({ key: "a", handler: "my-handler" }), "tasks[0].handler"],
    ["a handler name starting with a digit", job({ key: "a", handler: "1h" }), "tasks[0].handler"],
    ["a non-string handler", job({ key: "a", handler: null }), "tasks[0].handler"],
    ["a bad adapter name", job({ key: "a", adapter: "has space" }), "tasks[0].adapter"],
    ["negative retries", job(proc("a", { retries: -1 })), "tasks[0].retries"],
    ["too many retries", job(proc("a", { retries: 101 })), "tasks[0].retries"],
    ["fractional retries", job(proc("a", { retries: 1.5 })), "tasks[0].retries"],
    ["a negative task graceMs", job(proc("a", { graceMs: -1 })), "tasks[0].graceMs"],
    ["a task graceMs over 24h", job(proc("a", { graceMs: maxGraceMs + 1 })), "tasks[0].graceMs"],
    ["a null task graceMs", job(proc("a", { graceMs: null })), "tasks[0].graceMs"],
    ["an unknown runOn", job(proc("a", { runOn: "always" })), "tasks[0].runOn"],
    ["uses not an array", job(proc("a", { uses: "gpu" })), "tasks[0].uses"],
    ["a bad pool name", job(proc("a", { uses: ["gpu", "a b"] })), "tasks[0].uses[1]"],
    ["a duplicate pool", job(proc("a", { uses: ["gpu", "repo", "gpu"] })), "tasks[0].uses[2]"],
  ])("refuses %s", (_name, input, field) => {
    rejects(input, field);
  });

  it("infers the kind from its field and accepts a consistent explicit kind", () => {
    const spec = parseJobSpec(job(proc("a"), { key: "b", handler: "h" }, { key: "c", adapter: "http", kind: "remote" }));
    expect(spec.tasks.map((t) => t.kind)).toEqual(["process", "handler", "remote"]);
  });

  it("refuses a duplicate key, naming both indexes", () => {
    const details = rejects(job(proc("a"), proc("b"), proc("a")), "tasks[2].key");
    expect(details["duplicateOf"]).toBe("tasks[0].key");
  });

  it("leaves graceMs out of a task that sets none, defaults uses to []", () => {
    const task = parseJobSpec(job(proc("a"))).tasks[0]!;
    expect("graceMs" in task).toBe(false);
    expect(task.uses).toEqual([]);
  });
});

describe("parseJobSpec: dependencies", () => {
  it("normalises keys and objects to {key, onCancel}", () => {
    const spec = parseJobSpec(job(proc("a"), proc("b"), proc("c", { dependsOn: ["a", { key: "b", onCancel: "skip" }] }), proc("d", { dependsOn: [{ key: "c" }] })));
    expect(spec.tasks[2]!.dependsOn).toStrictEqual([
      { key: "a", onCancel: "cascade" },
      { key: "b", onCancel: "skip" },
    ]);
    expect(spec.tasks[3]!.dependsOn).toStrictEqual([{ key: "c", onCancel: "cascade" }]);
  });

  it("accepts a dependency on a later task", () => {
    expect(parseJobSpec(job(proc("a", { dependsOn: ["b"] }), proc("b"))).tasks[0]!.dependsOn).toHaveLength(1);
  });

  it.each([
    ["dependsOn not an array", job(proc("a"), proc("b", { dependsOn: "a" })), "tasks[1].dependsOn"],
    ["a numeric entry", job(proc("a"), proc("b", { dependsOn: [1] })), "tasks[1].dependsOn[0]"],
    ["an entry without key", job(proc("a"), proc("b", { dependsOn: [{ onCancel: "skip" }] })), "tasks[1].dependsOn[0].key"],
    ["an entry with a bad key type", job(proc("a"), proc("b", { dependsOn: [{ key: 1 }] })), "tasks[1].dependsOn[0].key"],
    ["an unknown entry field", job(proc("a"), proc("b", { dependsOn: [{ key: "a", policy: "skip" }] })), "tasks[1].dependsOn[0].policy"],
    ["an unknown onCancel", job(proc("a"), proc("b", { dependsOn: [{ key: "a", onCancel: "ignore" }] })), "tasks[1].dependsOn[0].onCancel"],
    ["a self-dependency", job(proc("a"), proc("b", { dependsOn: ["a", "b"] })), "tasks[1].dependsOn[1]"],
    ["a duplicate", job(proc("a"), proc("b", { dependsOn: ["a", { key: "a", onCancel: "skip" }] })), "tasks[1].dependsOn[1]"],
  ])("refuses %s", (_name, input, field) => {
    rejects(input, field);
  });

  it("refuses an unknown task, suggesting a close key", () => {
    const details = rejects(job(proc("build"), proc("lint"), proc("test", { dependsOn: ["bild"] })), "tasks[2].dependsOn[0]");
    expect(details["key"]).toBe("bild");
    expect(details["suggestion"]).toBe("build");
    expect(rejects(job(proc("a"), proc("b", { dependsOn: ["zzzzz"] })), "tasks[1].dependsOn[0]")["suggestion"]).toBeUndefined();
  });

  it("names the first of duplicate dependencies", () => {
    expect(rejects(job(proc("a"), proc("b", { dependsOn: ["a", "a"] })), "tasks[1].dependsOn[1]")["duplicateOf"]).toBe(
      "tasks[1].dependsOn[0]",
    );
  });

  it("refuses a cycle, giving its path", () => {
    const details = rejects(
      job(proc("x"), proc("a", { dependsOn: ["c"] }), proc("b", { dependsOn: ["a"] }), proc("c", { dependsOn: ["b"] })),
      "tasks",
    );
    expect(details["cycle"]).toEqual(["a", "c", "b", "a"]);
    expect(rejects(job(proc("a", { dependsOn: ["b"] }), proc("b", { dependsOn: ["a"] })), "tasks")["cycle"]).toEqual(["a", "b", "a"]);
  });

  it("refuses a cycle among compensation tasks", () => {
    rejects(job(proc("main"), proc("u1", { runOn: "cancel", dependsOn: ["u2"] }), proc("u2", { runOn: "cancel", dependsOn: ["u1"] })), "tasks");
  });
});

describe("parseJobSpec: compensation tasks", () => {
  it("accepts compensation tasks depending on compensation tasks", () => {
    const spec = parseJobSpec(job(proc("work"), proc("undo", { runOn: "cancel" }), proc("notify", { runOn: "cancel", dependsOn: ["undo"] })));
    expect(spec.tasks.map((t) => t.runOn)).toEqual(["normal", "cancel", "cancel"]);
  });

  it("refuses a normal task depending on a compensation task", () => {
    expect(rejects(job(proc("undo", { runOn: "cancel" }), proc("work", { dependsOn: ["undo"] })), "tasks[1].dependsOn[0]")["key"]).toBe("undo");
  });

  it("refuses a compensation task depending on a normal task", () => {
    expect(rejects(job(proc("work"), proc("undo", { runOn: "cancel", dependsOn: [{ key: "work" }] })), "tasks[1].dependsOn[0]")["key"]).toBe(
      "work",
    );
  });

  it("needs at least one normal task", () => {
    rejects(job(proc("undo", { runOn: "cancel" })), "tasks");
    expect(() => parseJobSpec(job(proc("undo", { runOn: "cancel" }), proc("work", { runOn: "normal" })))).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------
// Fuzzing: only INVALID_REQUEST or a valid spec, whatever the input

const anythingOptions = {
  maxDepth: 4,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  stringUnit: "binary",
} as const;
const junk = fc.anything({ ...anythingOptions, maxDepth: 2 });
/** Mostly `arb`, sometimes anything at all. */
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 8, arbitrary: arb }, { weight: 1, arbitrary: junk });
const keyArb = fc.constantFrom("a", "b", "c", "d", "main");
const dependencyArb = fc.oneof(keyArb, fc.record({ key: keyArb, onCancel: fc.constantFrom("cascade", "skip") }, { requiredKeys: ["key"] }));
const commonTaskFields = {
  key: maybe(keyArb),
  dependsOn: maybe(fc.array(maybe(dependencyArb), { maxLength: 3 })),
  retries: maybe(fc.integer({ min: 0, max: 100 })),
  graceMs: maybe(fc.integer({ min: 0, max: maxGraceMs })),
  runOn: maybe(fc.constantFrom("normal", "normal", "normal", "cancel")),
  uses: maybe(fc.uniqueArray(fc.constantFrom("gpu", "repo", "db"))),
};
const processFields = {
  command: maybe(fc.oneof(fc.string({ minLength: 1 }), fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }))),
  shell: maybe(fc.boolean()),
  cwd: maybe(fc.constantFrom("/tmp", "work")),
  env: maybe(fc.dictionary(fc.constantFrom("A", "PATH", "B_1"), fc.string(), { maxKeys: 3 })),
};
const taskArbitrary = fc.oneof(
  fc.record({ ...commonTaskFields, kind: maybe(fc.constant("process")), ...processFields }, { requiredKeys: ["key", "command"] }),
  fc.record(
    { ...commonTaskFields, kind: maybe(fc.constant("handler")), handler: maybe(fc.constantFrom("h", "work", "$run")), input: maybe(fc.jsonValue({ maxDepth: 2 })) },
    { requiredKeys: ["key", "handler"] },
  ),
  fc.record(
    { ...commonTaskFields, kind: maybe(fc.constant("remote")), adapter: maybe(fc.constantFrom("http", "slurm")), input: maybe(fc.jsonValue({ maxDepth: 2 })) },
    { requiredKeys: ["key", "adapter"] },
  ),
  junk,
);
const jobFields = {
  name: maybe(fc.string({ minLength: 1, maxLength: 20 })),
  queue: maybe(fc.constantFrom("default", "gpu", "a.b:c")),
  priority: maybe(fc.integer({ min: -10, max: 10 })),
  labels: maybe(fc.dictionary(fc.constantFrom("team", "env", "a/b"), fc.string({ maxLength: 5 }), { maxKeys: 3 })),
  params: maybe(fc.jsonValue({ maxDepth: 3 })),
  timeoutMs: maybe(fc.option(fc.integer({ min: 1, max: 1e9 }))),
  queueTimeoutMs: maybe(fc.option(fc.integer({ min: 1, max: 1e9 }))),
  graceMs: maybe(fc.integer({ min: 0, max: 100_000 })),
  failFast: maybe(fc.boolean()),
  idempotencyKey: maybe(fc.option(fc.string({ minLength: 1, maxLength: 10 }))),
};
const jobArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ ...jobFields, tasks: maybe(fc.array(taskArbitrary, { minLength: 1, maxLength: 5 })) }, { requiredKeys: ["tasks"] }),
  fc.record({ ...jobFields, ...processFields }, { requiredKeys: ["command"] }),
  fc.record({ ...jobFields, handler: maybe(fc.constantFrom("h", "x-y")), input: maybe(fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: ["handler"] }),
);

describe("parseJobSpec: fuzzing", () => {
  it("answers fc.anything() with INVALID_REQUEST or a valid spec", () => {
    fc.assert(
      fc.property(fc.anything(anythingOptions), (input) => {
        outcome(input);
      }),
      { numRuns: 2000 },
    );
  });

  it("answers fc.object() with INVALID_REQUEST or a valid spec", () => {
    fc.assert(
      fc.property(fc.object({ ...anythingOptions, key: fc.oneof(fc.string(), fc.constantFrom(...Object.keys(jobFields), "tasks", "command", "__proto__")) }), (input) => {
        outcome(input);
      }),
      { numRuns: 2000 },
    );
  });

  it("answers near-valid specs with INVALID_REQUEST or a valid spec, accepting many", () => {
    let valid = 0;
    fc.assert(
      fc.property(jobArbitrary, (input) => {
        if (outcome(input) === "valid") valid++;
      }),
      { numRuns: 3000 },
    );
    // The generator must reach past the first checks, or it tests little.
    expect(valid).toBeGreaterThan(150);
  });

  it("never mutates any input", () => {
    fc.assert(
      fc.property(fc.clone(fc.oneof(jobArbitrary, fc.anything(anythingOptions)), 2), ([input, twin]) => {
        outcome(input);
        expect(input).toStrictEqual(twin);
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts every well-formed random DAG job and keeps its graph", () => {
    const dag = fc.integer({ min: 1, max: 20 }).chain((n) =>
      fc.array(fc.subarray(Array.from({ length: n }, (_, i) => i)), { minLength: n, maxLength: n }).map((deps) =>
        // task i may depend only on tasks with a smaller index: acyclic by construction
        deps.map((ds, i) => proc(`t${i}`, { dependsOn: ds.filter((j) => j < i).map((j) => (j % 2 === 0 ? `t${j}` : { key: `t${j}`, onCancel: "skip" })) })),
      ),
    );
    fc.assert(
      fc.property(dag, (tasks) => {
        const spec = parseJobSpec({ tasks });
        checkValid(spec);
        expect(spec.tasks.map((t) => t.dependsOn.map((d) => d.key))).toEqual(
          tasks.map((t) => (t["dependsOn"] as (string | { key: string })[]).map((d) => (typeof d === "string" ? d : d.key))),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe("stallTimeoutMs (DESIGN §7 stall watchdog)", () => {
  it("is copied from the job onto each task without its own; a task's own value (null included) wins", () => {
    const spec = parseJobSpec({ stallTimeoutMs: 5000, tasks: [proc("a"), proc("b", { stallTimeoutMs: 2000 }), proc("c", { stallTimeoutMs: null })] });
    expect(spec.stallTimeoutMs).toBe(5000);
    expect(spec.tasks.map((t) => [t.key, t.stallTimeoutMs])).toEqual([
      ["a", 5000],
      ["b", 2000],
      ["c", null],
    ]);
    expect(parseJobSpec({ command: ["true"], stallTimeoutMs: 1000 }).tasks[0]?.stallTimeoutMs).toBe(1000);
  });

  it("is absent when not given, so specs without it read as before", () => {
    const spec = parseJobSpec(job(proc("a")));
    expect("stallTimeoutMs" in spec).toBe(false);
    expect("stallTimeoutMs" in spec.tasks[0]!).toBe(false);
  });

  it("rejects values outside 1000..10 years, non-integers and strings, naming the field", () => {
    expect(rejects({ command: ["true"], stallTimeoutMs: 999 }, "stallTimeoutMs")).toMatchObject({ min: 1000, max: maxTimeoutMs });
    rejects({ command: ["true"], stallTimeoutMs: 0 }, "stallTimeoutMs");
    rejects({ command: ["true"], stallTimeoutMs: -5 }, "stallTimeoutMs");
    rejects({ command: ["true"], stallTimeoutMs: 1500.5 }, "stallTimeoutMs");
    rejects({ command: ["true"], stallTimeoutMs: "60s" }, "stallTimeoutMs");
    rejects({ command: ["true"], stallTimeoutMs: maxTimeoutMs + 1 }, "stallTimeoutMs");
    rejects(job(proc("a", { stallTimeoutMs: 10 })), "tasks[0].stallTimeoutMs");
  });
});
