/**
 * Faults the chaos tests found in Belay and that are not fixed yet. A violation matching one
 * is printed, loudly, but does not fail the run — unless CHAOS_STRICT=1, which is how to
 * check a fix. Remove an entry once its fix is in: from then on the test guards it.
 */

export interface KnownIssue {
  id: string;
  what: string;
  /** Where the fault is and how to fix it. */
  fix: string;
}

/**
 * Fixed so far, each now guarded by its test: a process spawned but not yet recorded surviving
 * a crash; compensation left `running` by a crash; a full disk answered as a bare 500; a
 * runner's end lost on a full disk; a leftover timer of a cancelled handler failing the next
 * one on its thread; a restart with the same --node-id not recovering its earlier self.
 */
export const knownIssues = {
} satisfies Record<string, KnownIssue>;

export function strict(): boolean {
  return process.env["CHAOS_STRICT"] === "1";
}

const explained = new Set<string>();

/** True when the violation may pass (not strict): it is printed with its issue (and the fix, once). */
export function tolerate(issue: KnownIssue, violation: string): boolean {
  if (strict()) return false;
  const fix = explained.has(issue.id) ? "" : `\n  fix: ${issue.fix}`;
  explained.add(issue.id);
  console.warn(`KNOWN ISSUE ${issue.id} (${issue.what}): ${violation}${fix}`);
  return true;
}
