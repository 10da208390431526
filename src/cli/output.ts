/** Writing to the terminal: lines for people on stdout, notices on stderr, JSON for programs. */

export function line(text = ""): void {
  process.stdout.write(`${text}\n`);
}

/** A notice (warning, progress of a shutdown): stderr, so stdout stays clean for pipes. */
export function notice(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** The API's JSON, pretty-printed (one document per command). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON document per line, for streams (`job watch --json`, `job logs --follow --json`). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
