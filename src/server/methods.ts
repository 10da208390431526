/**
 * Which methods a path has, for a `405 Method Not Allowed` with its `Allow` header instead of
 * a 404 when the path exists but not with the method asked. Filled from Fastify's `onRoute`
 * as routes are added; catch-all routes (`*`) are left out, or every path would "exist".
 */
export class RouteMethods {
  private readonly routes: Array<{ pattern: RegExp; methods: string[] }> = [];

  add(method: string | string[], url: string): void {
    if (url.includes("*")) return;
    const source = `^${url
      .split("/")
      .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
      .join("/")}/?$`;
    this.routes.push({ pattern: new RegExp(source), methods: Array.isArray(method) ? method : [method] });
  }

  /** The methods of the routes matching `path`, sorted; empty when no route has that path. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const route of this.routes) if (route.pattern.test(path)) route.methods.forEach((m) => methods.add(m));
    return [...methods].sort();
  }
}
