/**
 * The web UI bundle (src/web → dist/web), built by `npm run build:web`, which `npm install`
 * runs through the `prepare` script. `belay serve` serves the result at `/` (src/server/web.ts).
 * Preact's JSX runtime through Vite's own transform: no plugin needed.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/** `npx vite` serves the UI with hot reload and sends API calls to a running `belay serve`. */
const api = process.env["BELAY_URL"] ?? "http://127.0.0.1:7420";

export default defineConfig({
  root: fileURLToPath(new URL("./src/web", import.meta.url)),
  base: "/",
  publicDir: "public",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: { proxy: { "/api": api, "/ui/sign-in": api } },
  build: {
    outDir: fileURLToPath(new URL("./dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    // No inline <script> or data: modules: the server's Content-Security-Policy is script-src 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
