/**
 * Summarize a V8 CPU profile (.cpuprofile, e.g. from `npm run bench -- H1 --cpu-prof`):
 * the functions with the most self time, the most inclusive time (each function counted
 * once per sample, however often it recurs in the stack), and self time per area (our
 * source, Fastify and its plugins, node:sqlite, Node internals, GC, idle).
 *
 *   node bench/profile-top.ts FILE.cpuprofile [N]     N rows per list (default 25)
 *   node bench/profile-top.ts FILE.cpuprofile --under NAME   inclusive time under frames whose function name contains NAME
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, ...rest] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write("usage: node bench/profile-top.ts FILE.cpuprofile [N] [--under NAME]\n");
  process.exit(2);
}
const underIndex = rest.indexOf("--under");
const under = underIndex >= 0 ? rest[underIndex + 1] ?? null : null;
const top = Number(rest.find((a) => /^\d+$/.test(a)) ?? 25);

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const node of profile.nodes) {
  byId.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node.id);
}

function shortUrl(url: string): string {
  const cut = url.replace(/^file:\/\//, "");
  const at = cut.lastIndexOf("/node_modules/");
  if (at >= 0) return cut.slice(at + "/node_modules/".length);
  const src = cut.indexOf("/src/");
  if (src >= 0) return cut.slice(src + 1);
  const bench = cut.indexOf("/bench/");
  return bench >= 0 ? cut.slice(bench + 1) : cut;
}

function key(frame: CallFrame): string {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  return frame.url === "" ? name : `${name}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function area(frame: CallFrame): string {
  const url = frame.url;
  const name = frame.functionName;
  if (url === "") {
    if (name === "(garbage collector)" || name === "(idle)" || name === "(program)" || name === "(root)") return name;
    return "native (V8 builtins, node:sqlite calls, …)";
  }
  if (url.startsWith("node:")) return `node internals (${url.split("/").slice(0, 2).join("/").replace(/^node:internal\//, "")})`;
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m?.[1] !== undefined) return `package ${m[1]}`;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src?.[1] !== undefined) return `src/${src[1]}`;
  return shortUrl(url);
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const areas = new Map<string, number>();
let total = 0;
let underTotal = 0;
const underSelf = new Map<string, number>();
for (let i = 0; i < profile.samples.length; i += 1) {
  const id = profile.samples[i] as number;
  const delta = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000; // ms; a sample lasts until the next
  const node = byId.get(id);
  if (node === undefined) continue;
  total += delta;
  const k = key(node.callFrame);
  self.set(k, (self.get(k) ?? 0) + delta);
  const a = area(node.callFrame);
  areas.set(a, (areas.get(a) ?? 0) + delta);
  const seen = new Set<string>();
  let isUnder = false;
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const frame = (byId.get(cur) as ProfileNode).callFrame;
    const fk = key(frame);
    if (under !== null && frame.functionName.includes(under)) isUnder = true;
    if (seen.has(fk)) continue;
    seen.add(fk);
    inclusive.set(fk, (inclusive.get(fk) ?? 0) + delta);
  }
  if (isUnder) {
    underTotal += delta;
    underSelf.set(k, (underSelf.get(k) ?? 0) + delta);
  }
}

const pct = (v: number): string => `${((v / total) * 100).toFixed(1).padStart(5)}%`;
const ms = (v: number): string => `${v.toFixed(1).padStart(9)} ms`;
function print(title: string, map: Map<string, number>, n: number): void {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${ms(v)} ${pct(v)}  ${k}\n`);
}

const idle = areas.get("(idle)") ?? 0;
process.stdout.write(`${file}: ${ms(total).trim()} sampled over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms; idle ${ms(idle).trim()}, busy ${ms(total - idle).trim()}\n`);
print("self time by area", areas, 30);
print(`self time, top ${top}`, self, top);
print(`inclusive time, top ${top}`, inclusive, top);
if (under !== null) {
  process.stdout.write(`\nunder frames named *${under}*: ${ms(underTotal).trim()} (${pct(underTotal).trim()})\n`);
  print(`self time under *${under}*, top ${top}`, underSelf, top);
}
