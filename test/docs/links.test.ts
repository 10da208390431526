/**
 * Every relative link of every Markdown file in the repository resolves to a file or folder
 * inside the repository: a reader of a clone (or of the package) never meets a link into
 * the author's machine (`../shared/…`) or a file that was renamed away.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const skipped = new Set(["node_modules", ".git", "dist", "test-artifacts", ".belay"]);

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skipped.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...markdownFiles(path));
    else if (entry.name.endsWith(".md")) out.push(path);
  }
  return out;
}

/** Link targets outside fenced code blocks and inline code: `[text](target)` and `[ref]: target`. */
export function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
  const targets: string[] = [];
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1] ?? "");
  for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(m[1] ?? "");
  return targets;
}

/** Why a link does not resolve inside the repository, or null when it does (or is not a file link). */
export function brokenLink(file: string, target: string, root = repo): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) return null;
  const path = decodeURIComponent(target.replace(/[#?].*$/, ""));
  if (path === "") return null;
  if (path.startsWith("/")) return "an absolute path (it means another place on every machine)";
  const resolved = resolve(dirname(file), path);
  if (resolved !== root && !resolved.startsWith(root + sep)) return "leaves the repository";
  if (!existsSync(resolved)) return "no such file in the repository";
  return null;
}

describe("links in the repository's Markdown", () => {
  it("finds the links to check (the extraction itself works)", () => {
    const sample = "See [a](docs/a.md#x), [b](<../shared/b.md>) and [c][r].\n\n[r]: ../c.md\n\n```sh\n[not](a link)\n```\n`[nor](this)`";
    expect(linkTargets(sample)).toEqual(["docs/a.md#x", "../shared/b.md", "../c.md"]);
    expect(brokenLink(join(repo, "README.md"), "../shared/DESIGN.md")).toBe("leaves the repository");
    expect(brokenLink(join(repo, "README.md"), "docs/nope.md")).toBe("no such file in the repository");
    expect(brokenLink(join(repo, "README.md"), "/etc/passwd")).toMatch(/absolute/);
    expect(brokenLink(join(repo, "README.md"), "docs/api.md#routes")).toBeNull();
    expect(brokenLink(join(repo, "README.md"), "https://example.org/x")).toBeNull();
  });

  it("every relative link of every .md file resolves inside the repository", () => {
    const files = markdownFiles(repo);
    expect(files.length).toBeGreaterThan(10);
    const broken: string[] = [];
    for (const file of files) {
      for (const target of linkTargets(readFileSync(file, "utf8"))) {
        const why = brokenLink(file, target);
        if (why !== null) broken.push(`${relative(repo, file)}: ${target} — ${why}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
