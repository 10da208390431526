/** core/templates: the templates file's rules and the expansion of a template task. */
import { describe, expect, it } from "vitest";
import { maxGraceMs } from "../../src/core/grace.ts";
import { parseJobSpec } from "../../src/core/spec.ts";
import { expandTemplate, parseTemplates } from "../../src/core/templates.ts";

const templates = parseTemplates({
  templates: [
    { name: "resize", argv: ["/usr/bin/convert", "--", "{{input:path}}", "-resize", "{{size:int}}%", "out-{{size:int}}.png"], graceMs: 5000, uses: ["gpu"], env: { K: { secret: "IMG" } } },
    { name: "say", argv: ["echo", "{{text:string}}", "{{loud:bool}}", "{{level:enum(low|high)}}", "{{ratio:number}}"] },
  ],
});

describe("task templates", () => {
  it("expands typed parameters inside their own argv entries, with the template's env, grace and pools", () => {
    const spec = parseJobSpec({ tasks: [{ key: "a", template: "resize", params: { input: "in/x.png", size: 50 }, uses: ["disk"], retries: 1 }] }, { templates });
    const task = spec.tasks[0]!;
    expect(task.kind).toBe("process");
    expect(task.process).toEqual({ command: ["/usr/bin/convert", "--", "in/x.png", "-resize", "50%", "out-50.png"], env: { K: { secret: "IMG" } } });
    expect(task.template).toEqual({ name: "resize", params: { input: "in/x.png", size: 50 } });
    expect(task.graceMs).toBe(5000);
    expect(task.uses).toEqual(["gpu", "disk"]);
    expect(task.retries).toBe(1);
    expect(spec.name).toBe("resize");
    const say = expandTemplate(templates, "say", { text: "a b\nc", loud: true, level: "high", ratio: 0.5 }, "p");
    expect(say.process.command).toEqual(["echo", "a b\nc", "true", "high", "0.5"]);
  });

  it("refuses a bad templates file: program as parameter, unknown type, duplicate name, a parameter with two types", () => {
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["{{p:string}}"] }] })).toThrow(/program cannot be a parameter/);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a", "{{p:float}}"] }] })).toThrow(/unknown parameter type/);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a"] }, { name: "x", argv: ["b"] }] })).toThrow(/duplicate/);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a", "{{p:int}}", "{{p:string}}"] }] })).toThrow(/two types/);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a"], shell: true }] })).toThrow(/unknown field/);
  });

  it("a template's graceMs is bounded by core's one grace limit", () => {
    expect(parseTemplates({ templates: [{ name: "x", argv: ["a"], graceMs: maxGraceMs }] }).get("x")?.graceMs).toBe(maxGraceMs);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a"], graceMs: maxGraceMs + 1 }] })).toThrow(`templates[0].graceMs: an integer 0..${maxGraceMs}`);
    expect(() => parseTemplates({ templates: [{ name: "x", argv: ["a"], graceMs: -1 }] })).toThrow(/graceMs: an integer/);
  });

  it("a template task takes no command, shell, cwd or env of its own, and there is no shorthand", () => {
    for (const extra of [{ command: ["id"] }, { shell: true }, { cwd: "/" }, { env: { A: "b" } }]) {
      expect(() => parseJobSpec({ tasks: [{ key: "a", template: "say", ...extra }] }, { templates })).toThrow();
    }
    expect(() => parseJobSpec({ template: "say" }, { templates })).toThrow(/unknown field/);
  });

  it("an env value is a string or {secret: NAME}, nothing else", () => {
    expect(parseJobSpec({ command: ["true"], env: { A: { secret: "OK_1" } } }).tasks[0]?.process?.env).toEqual({ A: { secret: "OK_1" } });
    expect(() => parseJobSpec({ command: ["true"], env: { A: { secret: "bad name" } } })).toThrow(/secret name/);
    expect(() => parseJobSpec({ command: ["true"], env: { A: { secret: "X", more: 1 } } })).toThrow(/must be a string or/);
    expect(() => parseJobSpec({ command: ["true"], env: { A: 1 } })).toThrow(/must be a string or/);
  });
});
