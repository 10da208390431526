/**
 * A Vitest reporter (next to the default one) that ends the run with every skipped test grouped
 * by why: the note of `ctx.skip(note)`, or the `skipReason` of `skippedIf` (test/optional.ts) on
 * the test or a suite around it. A developer's green run then says what it did not cover.
 */
import type { Reporter, TestCase, TestModule, TestSuite } from "vitest/node";

interface Group {
  tests: number;
  files: Set<string>;
}

function reasonOf(test: TestCase): string | null {
  const result = test.result();
  if (result.state === "skipped" && result.note !== undefined && result.note !== "") return result.note;
  let task: TestCase | TestSuite | TestModule = test;
  for (;;) {
    const reason = task.meta().skipReason;
    if (reason !== undefined) return reason;
    if (task.type === "module") return null;
    task = task.parent;
  }
}

export default class SkipSummary implements Reporter {
  private root = process.cwd();

  onInit(vitest: { config: { root: string } }): void {
    this.root = vitest.config.root;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const groups = new Map<string, Group>();
    const unexplained: Group = { tests: 0, files: new Set() };
    for (const module of modules) {
      const file = module.moduleId.startsWith(`${this.root}/`) ? module.moduleId.slice(this.root.length + 1) : module.moduleId;
      for (const test of module.children.allTests()) {
        if (test.result().state !== "skipped") continue;
        const reason = reasonOf(test);
        const group = reason === null ? unexplained : groups.get(reason) ?? { tests: 0, files: new Set<string>() };
        if (reason !== null) groups.set(reason, group);
        group.tests += 1;
        group.files.add(file);
      }
    }
    if (groups.size === 0 && unexplained.tests === 0) return;
    const count = (n: number): string => `${n} test${n === 1 ? "" : "s"}`;
    const lines = ["", "Skipped in this run, and why:"];
    for (const [reason, group] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`  ${reason}`, `    ${count(group.tests)} in ${[...group.files].sort().join(", ")}`);
    }
    if (unexplained.tests > 0) {
      lines.push(`  no reason given (it.skip / it.todo, or not selected by -t or .only)`, `    ${count(unexplained.tests)} in ${[...unexplained.files].sort().join(", ")}`);
    }
    process.stdout.write(`${lines.join("\n")}\n\n`);
  }
}
