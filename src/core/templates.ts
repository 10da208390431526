/**
 * Task templates (DESIGN §6): commands the deployer defines on the server, which a `user`
 * may run with typed parameters. A template's argv is fixed except for its placeholders
 * `{{name:type}}`; each parameter is checked against its type and substituted inside the
 * one argv entry that holds it, so a value can never become a second argument, an option
 * of a shell or a shell at all: no template ever runs through a shell.
 *
 * File form (YAML or JSON, `--templates FILE`):
 *
 *     templates:
 *       - name: resize
 *         argv: ["/usr/bin/convert", "--", "{{input:path}}", "-resize", "{{size:int}}%", "out.png"]
 *         env: { MODE: fast, API_KEY: { secret: IMAGES_KEY } }
 *         graceMs: 5000
 *         uses: [gpu]
 *
 * Types: `int`, `number`, `bool`, `string` (any text without NUL, at most 10 000
 * characters), `path` (a relative path of `[A-Za-z0-9._/-]`, no `..`, not starting with
 * `-` or `/`), `enum(a|b|c)`.
 */
import { BelayError, invalid } from "./errors.ts";
import { maxGraceMs } from "./grace.ts";
import type { EnvValue, Json, ProcessSpec } from "./model.ts";

export type ParamType =
  | { type: "int" }
  | { type: "number" }
  | { type: "bool" }
  | { type: "string" }
  | { type: "path" }
  | { type: "enum"; values: string[] };

/** One argv entry: literal text and placeholders, in order. */
type ArgPart = { text: string } | { param: string };

export interface TaskTemplate {
  name: string;
  argv: ArgPart[][];
  params: Record<string, ParamType>;
  env: Record<string, EnvValue>;
  graceMs?: number;
  uses: string[];
}

export type TemplateSet = ReadonlyMap<string, TaskTemplate>;

const namePattern = /^[A-Za-z0-9_.-]{1,100}$/;
const paramNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const placeholder = /\{\{\s*([^}:\s]+)\s*:\s*([^}]+?)\s*\}\}/g;
export const maxParamLength = 10_000;
const maxPathLength = 4096;
const pathPattern = /^[A-Za-z0-9._][A-Za-z0-9._/-]*$/;

function parseType(field: string, text: string): ParamType {
  if (text === "int" || text === "number" || text === "bool" || text === "string" || text === "path") return { type: text };
  const match = /^enum\(([^)]*)\)$/.exec(text);
  if (match !== null) {
    const values = (match[1] ?? "").split("|").map((v) => v.trim());
    if (values.length === 0 || values.some((v) => v === "")) throw invalid(`${field}: enum needs values, e.g. enum(fast|slow)`, { field });
    return { type: "enum", values };
  }
  throw invalid(`${field}: unknown parameter type "${text}"; types are int, number, bool, string, path, enum(a|b)`, { field });
}

function sameType(a: ParamType, b: ParamType): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** An env value of a spec or template: a string, or `{secret: NAME}`. */
export function parseEnvValue(field: string, value: unknown): EnvValue {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const name = (value as Record<string, unknown>)["secret"];
    if (keys.length === 1 && typeof name === "string") {
      if (!secretNamePattern.test(name)) throw invalid(`${field}.secret: "${name.slice(0, 100)}" is not a valid secret name (${secretNamePattern.source})`, { field: `${field}.secret` });
      return { secret: name };
    }
  }
  throw invalid(`${field}: must be a string or {"secret": NAME}`, { field });
}

function parseTemplate(field: string, raw: unknown): TaskTemplate {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(`${field}: must be an object {name, argv, env?, graceMs?, uses?}`, { field });
  const t = raw as Record<string, unknown>;
  for (const key of Object.keys(t)) {
    if (!["name", "argv", "env", "graceMs", "uses", "description"].includes(key)) throw invalid(`${field}.${key}: unknown field`, { field: `${field}.${key}` });
  }
  const name = t["name"];
  if (typeof name !== "string" || !namePattern.test(name)) throw invalid(`${field}.name: required, ${namePattern.source}`, { field: `${field}.name` });
  const rawArgv = t["argv"];
  if (!Array.isArray(rawArgv) || rawArgv.length === 0 || rawArgv.some((a) => typeof a !== "string")) {
    throw invalid(`${field}.argv: required, a non-empty array of strings (the program first)`, { field: `${field}.argv` });
  }
  const params: Record<string, ParamType> = {};
  const argv = (rawArgv as string[]).map((entry, i): ArgPart[] => {
    const parts: ArgPart[] = [];
    let last = 0;
    for (const match of entry.matchAll(placeholder)) {
      const f = `${field}.argv[${i}]`;
      if (i === 0) throw invalid(`${f}: the program cannot be a parameter`, { field: f });
      const [whole, paramName = "", typeText = ""] = match;
      if (!paramNamePattern.test(paramName)) throw invalid(`${f}: "${paramName}" is not a valid parameter name (${paramNamePattern.source})`, { field: f });
      const type = parseType(f, typeText);
      const earlier = params[paramName];
      if (earlier !== undefined && !sameType(earlier, type)) throw invalid(`${f}: parameter "${paramName}" appears with two types`, { field: f });
      params[paramName] = type;
      if (match.index > last) parts.push({ text: entry.slice(last, match.index) });
      parts.push({ param: paramName });
      last = match.index + whole.length;
    }
    if (last < entry.length || parts.length === 0) parts.push({ text: entry.slice(last) });
    return parts;
  });
  const env: Record<string, EnvValue> = {};
  const rawEnv = t["env"];
  if (rawEnv !== undefined) {
    if (typeof rawEnv !== "object" || rawEnv === null || Array.isArray(rawEnv)) throw invalid(`${field}.env: must be an object`, { field: `${field}.env` });
    for (const [key, value] of Object.entries(rawEnv)) {
      if (key === "" || key.includes("=")) throw invalid(`${field}.env: "${key}" is not a valid variable name`, { field: `${field}.env` });
      env[key] = parseEnvValue(`${field}.env.${key}`, value);
    }
  }
  const template: TaskTemplate = { name, argv, params, env, uses: [] };
  const graceMs = t["graceMs"];
  if (graceMs !== undefined) {
    if (!Number.isInteger(graceMs) || (graceMs as number) < 0 || (graceMs as number) > maxGraceMs) throw invalid(`${field}.graceMs: an integer 0..${maxGraceMs}`, { field: `${field}.graceMs` });
    template.graceMs = graceMs as number;
  }
  const uses = t["uses"];
  if (uses !== undefined) {
    if (!Array.isArray(uses) || uses.some((u) => typeof u !== "string" || !namePattern.test(u))) throw invalid(`${field}.uses: an array of pool names`, { field: `${field}.uses` });
    template.uses = [...new Set(uses as string[])];
  }
  return template;
}

/** The templates of a file or object: `{templates: [...]}` or the list itself. */
export function parseTemplates(input: unknown): TemplateSet {
  if (input === undefined || input === null) return new Map();
  const list = Array.isArray(input) ? input : (input as Record<string, unknown>)["templates"];
  if (!Array.isArray(list)) throw invalid("templates: must be a list, or {templates: [...]}", { field: "templates" });
  const set = new Map<string, TaskTemplate>();
  list.forEach((raw, i) => {
    const template = parseTemplate(`templates[${i}]`, raw);
    if (set.has(template.name)) throw invalid(`templates[${i}].name: duplicate template "${template.name}"`, { field: `templates[${i}].name` });
    set.set(template.name, template);
  });
  return set;
}

function paramValue(field: string, type: ParamType, value: Json | undefined): string {
  if (value === undefined) throw invalid(`${field}: required`, { field });
  const fail = (what: string): never => {
    throw invalid(`${field}: must be ${what}`, { field, type: type.type });
  };
  switch (type.type) {
    case "int":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) fail("an integer");
      return String(value);
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) fail("a finite number");
      return String(value);
    case "bool":
      if (typeof value !== "boolean") fail("true or false");
      return String(value);
    case "enum":
      if (typeof value !== "string" || !type.values.includes(value)) fail(`one of ${type.values.join(", ")}`);
      return value as string;
    case "path": {
      if (typeof value !== "string" || value.length === 0 || value.length > maxPathLength || !pathPattern.test(value) || value.split("/").includes("..")) {
        fail(`a relative path of letters, digits, ".", "_", "-" and "/" (no "..", not starting with "-" or "/", at most ${maxPathLength} characters)`);
      }
      return value as string;
    }
    case "string":
      if (typeof value !== "string") fail("a string");
      if ((value as string).length > maxParamLength) {
        throw invalid(`${field}: is longer than the limit of ${maxParamLength} characters`, { field, limit: maxParamLength });
      }
      return value as string;
  }
}

/**
 * The process of a template task: the template's argv with each parameter checked and put
 * in place (within its own argv entry), and the template's env. `field` names the task's
 * `params` in errors. Throws INVALID_REQUEST for an unknown template, a missing, extra or
 * ill-typed parameter.
 */
export function expandTemplate(templates: TemplateSet, name: string, params: Record<string, Json>, field: string): { template: TaskTemplate; process: ProcessSpec } {
  const template = templates.get(name);
  if (template === undefined) {
    const known = [...templates.keys()];
    throw new BelayError("INVALID_REQUEST", `${field}: unknown template "${name.slice(0, 100)}"${known.length === 0 ? " (this server defines no templates)" : `; templates are ${known.slice(0, 20).join(", ")}`}`, {
      details: { field, template: name },
    });
  }
  for (const key of Object.keys(params)) {
    if (template.params[key] === undefined) throw invalid(`${field}.${key.slice(0, 100)}: template "${name}" has no parameter of that name`, { field: `${field}.${key}` });
  }
  const values: Record<string, string> = {};
  for (const [key, type] of Object.entries(template.params)) values[key] = paramValue(`${field}.${key}`, type, params[key]);
  const command = template.argv.map((parts) => parts.map((part) => ("text" in part ? part.text : values[part.param])).join(""));
  const process: ProcessSpec = { command };
  if (Object.keys(template.env).length > 0) process.env = structuredClone(template.env);
  return { template, process };
}
