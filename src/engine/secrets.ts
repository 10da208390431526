/**
 * Server-side secrets (DESIGN §6): `{"secret": NAME}` env values are resolved when a process
 * starts, from the values given to `openBelay({secrets})` (`--secrets-file`) or else
 * `BELAY_SECRET_<NAME>` in this process's environment. A job stores the name only.
 */
export interface SecretSource {
  has(name: string): boolean;
  get(name: string): string | undefined;
}

export function secretSource(values: Readonly<Record<string, string>> = {}, env: NodeJS.ProcessEnv = process.env): SecretSource {
  const own = new Map(Object.entries(values));
  const get = (name: string): string | undefined => own.get(name) ?? env[`BELAY_SECRET_${name}`];
  return { get, has: (name) => get(name) !== undefined };
}
