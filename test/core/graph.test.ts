import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isBelayError } from "../../src/core/errors.ts";
import {
  dependencyEdges,
  findCycle,
  topologicalOrder,
  transitiveDependents,
  type DependencyEdge,
  type GraphTask,
} from "../../src/core/graph.ts";
import type { CancelPolicy } from "../../src/core/model.ts";

/** `t("b", "a", ["c", "skip"])`: task b depends on a (cascade) and on c (skip). */
function t(key: string, ...deps: (string | [string, CancelPolicy])[]): GraphTask {
  return {
    key,
    dependsOn: deps.map((d) => (typeof d === "string" ? { key: d, onCancel: "cascade" } : { key: d[0], onCancel: d[1] })),
  };
}

function invalidField(fn: () => unknown): { field: unknown; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    expect(isBelayError(error, "INVALID_REQUEST")).toBe(true);
    if (!isBelayError(error)) throw error;
    return { field: error.details?.["field"], details: error.details ?? {} };
  }
  return expect.fail("expected an INVALID_REQUEST error");
}

describe("dependencyEdges", () => {
  it("lists every edge in spec order with its policy", () => {
    expect(dependencyEdges([t("a"), t("b", "a"), t("c", ["a", "skip"], "b")])).toEqual([
      { from: "b", to: "a", onCancel: "cascade" },
      { from: "c", to: "a", onCancel: "skip" },
      { from: "c", to: "b", onCancel: "cascade" },
    ]);
  });
});

describe("topologicalOrder", () => {
  it("puts every task after its dependencies", () => {
    expect(topologicalOrder([t("deploy", "test", "build"), t("test", "build"), t("build")])).toEqual([
      "build",
      "test",
      "deploy",
    ]);
  });

  it("keeps spec order among independent tasks", () => {
    expect(topologicalOrder([t("c"), t("a"), t("b")])).toEqual(["c", "a", "b"]);
    expect(topologicalOrder([t("a"), t("b", "c"), t("c")])).toEqual(["a", "c", "b"]);
  });

  it("handles a diamond and an empty list", () => {
    expect(topologicalOrder([t("d", "b", "c"), t("b", "a"), t("c", "a"), t("a")])).toEqual(["a", "b", "c", "d"]);
    expect(topologicalOrder([])).toEqual([]);
  });

  it("handles a long chain without overflowing the stack", () => {
    const n = 50_000;
    const tasks = Array.from({ length: n }, (_, i) => (i === n - 1 ? t(`t${i}`) : t(`t${i}`, `t${i + 1}`)));
    const order = topologicalOrder(tasks);
    expect(order[0]).toBe(`t${n - 1}`);
    expect(order[n - 1]).toBe("t0");
  });

  it("refuses a cycle, giving its path", () => {
    const { field, details } = invalidField(() => topologicalOrder([t("x"), t("a", "b"), t("b", "c"), t("c", "a")]));
    expect(field).toBe("tasks");
    expect(details["cycle"]).toEqual(["a", "b", "c", "a"]);
  });

  it("refuses unknown dependencies and duplicate keys", () => {
    expect(invalidField(() => topologicalOrder([t("a", "nope")])).field).toBe("tasks[0].dependsOn[0]");
    const dup = invalidField(() => topologicalOrder([t("a"), t("b"), t("a")]));
    expect(dup.field).toBe("tasks[2].key");
    expect(dup.details["duplicateOf"]).toBe("tasks[0].key");
  });

  it("orders any random DAG consistently", () => {
    // Random DAGs: task i may depend only on tasks after it, then the list is shuffled.
    const dag = fc
      .integer({ min: 1, max: 30 })
      .chain((n) =>
        fc.tuple(
          fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: n - i - 1 }, (_, j) => i + j + 1)))),
          fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
        ),
      );
    fc.assert(
      fc.property(dag, ([deps, perm]) => {
        const tasks = perm.map((i) => t(`k${i}`, ...deps[i]!.map((j) => `k${j}`)));
        const order = topologicalOrder(tasks);
        expect([...order].sort()).toEqual(tasks.map((x) => x.key).sort());
        const position = new Map(order.map((key, i) => [key, i]));
        for (const edge of dependencyEdges(tasks)) expect(position.get(edge.to)!).toBeLessThan(position.get(edge.from)!);
        expect(findCycle(tasks)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});

describe("findCycle", () => {
  it("returns null for an acyclic graph", () => {
    expect(findCycle([t("a"), t("b", "a")])).toBeNull();
  });

  it("finds a self-loop and a two-cycle", () => {
    expect(findCycle([t("a", "a")])).toEqual(["a", "a"]);
    expect(findCycle([t("a", "b"), t("b", "a")])).toEqual(["a", "b", "a"]);
  });

  it("gives only the cycle, not the path leading to it", () => {
    expect(findCycle([t("entry", "x"), t("x", "y"), t("y", "z"), t("z", "x")])).toEqual(["x", "y", "z", "x"]);
  });

  it("returns a real cycle: each task depends on the next", () => {
    const graph = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.array(fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: 4 }), { minLength: n, maxLength: n }),
    );
    fc.assert(
      fc.property(graph, (deps) => {
        const tasks = deps.map((ds, i) => t(`k${i}`, ...ds.map((j) => `k${j}`)));
        const cycle = findCycle(tasks);
        if (cycle === null) {
          expect(topologicalOrder(tasks)).toHaveLength(tasks.length);
          return;
        }
        expect(cycle[0]).toBe(cycle[cycle.length - 1]);
        expect(new Set(cycle.slice(1)).size).toBe(cycle.length - 1);
        const byKey = new Map(tasks.map((x) => [x.key, x]));
        for (let i = 0; i + 1 < cycle.length; i++) {
          expect(byKey.get(cycle[i]!)!.dependsOn.map((d) => d.key)).toContain(cycle[i + 1]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("transitiveDependents", () => {
  // build ← test ← deploy; build ← docs (skip) ← publish; lint independent.
  const tasks = [
    t("publish", "docs"),
    t("deploy", "test"),
    t("test", "build"),
    t("docs", ["build", "skip"]),
    t("build"),
    t("lint"),
  ];

  it("follows every edge by default, in spec order, without the task itself", () => {
    expect(transitiveDependents(tasks, "build")).toEqual(["publish", "deploy", "test", "docs"]);
    expect(transitiveDependents(tasks, "test")).toEqual(["deploy"]);
    expect(transitiveDependents(tasks, "deploy")).toEqual([]);
    expect(transitiveDependents(tasks, "lint")).toEqual([]);
  });

  it("follows only the edges the policy allows", () => {
    const cascade = (e: DependencyEdge): boolean => e.onCancel === "cascade";
    expect(transitiveDependents(tasks, "build", cascade)).toEqual(["deploy", "test"]);
    expect(transitiveDependents(tasks, "build", () => false)).toEqual([]);
  });

  it("hands the policy the edge as {from: dependent, to: dependency, onCancel}", () => {
    const seen: DependencyEdge[] = [];
    transitiveDependents([t("a"), t("b", ["a", "skip"])], "a", (e) => {
      seen.push(e);
      return true;
    });
    expect(seen).toEqual([{ from: "b", to: "a", onCancel: "skip" }]);
  });

  it("reaches a task through any allowed path", () => {
    // d depends on b (skip) and on c (cascade); c depends on a: d is reached through c.
    const g = [t("a"), t("b", "a"), t("c", "a"), t("d", ["b", "skip"], "c")];
    expect(transitiveDependents(g, "a", (e) => e.onCancel === "cascade")).toEqual(["b", "c", "d"]);
    expect(transitiveDependents(g, "b", (e) => e.onCancel === "cascade")).toEqual([]);
  });

  it("returns [] for an unknown key and terminates on a cycle", () => {
    expect(transitiveDependents(tasks, "nope")).toEqual([]);
    expect(transitiveDependents([t("a", "b"), t("b", "a"), t("c", "a")], "a")).toEqual(["b", "c"]);
  });
});
