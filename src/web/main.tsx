/** The Belay web UI: Jobs (live), History, Job detail, Cancellations. */
import { render } from "preact";
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { loadToken, saveToken, setSession, takeSignInCode } from "./api.ts";
import { Toasts } from "./components/Notice.tsx";
import { useStreamState } from "./hooks.ts";
import { CancellationsPage } from "./pages/Cancellations.tsx";
import { HistoryPage } from "./pages/History.tsx";
import { JobDetailPage } from "./pages/JobDetail.tsx";
import { JobsPage } from "./pages/Jobs.tsx";
import { PoolsPage } from "./pages/Pools.tsx";
import { SchedulesPage } from "./pages/Schedules.tsx";
import { SignIn } from "./pages/SignIn.tsx";
import { Link, useLocation } from "./router.tsx";
import { SessionContext } from "./session.ts";
import type { SessionValue } from "./session.ts";
import "./styles.css";

const titles: Record<string, string> = { jobs: "Jobs", history: "History", cancellations: "Cancellations", pools: "Pools", schedules: "Schedules" };

function LiveIndicator(): JSX.Element | null {
  const state = useStreamState();
  if (state === "stopped") return null;
  const text = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  return (
    <span class={`live live-${state}`} role="status" title={state === "live" ? "Updates arrive as they happen" : "The live connection dropped; retrying"}>
      <span class="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function Routes(): JSX.Element {
  const { path } = useLocation();
  const detail = /^\/jobs\/([^/]+)\/?$/.exec(path);
  const page = detail !== null ? "detail" : path === "/" || path === "/jobs" ? "jobs" : path === "/history" ? "history" : path === "/cancellations" ? "cancellations" : path === "/pools" ? "pools" : path === "/schedules" ? "schedules" : "missing";
  useEffect(() => {
    document.title = `${page === "detail" ? "Job" : (titles[page] ?? "Not found")} · Belay`;
  }, [page]);
  const nav = (href: string, key: string, label: string): JSX.Element => (
    <li>
      <Link href={href} aria-current={page === key || (key === "jobs" && page === "detail") ? "page" : undefined}>
        {label}
      </Link>
    </li>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/" class="brand">
          <svg class="logo" viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="currentColor" opacity="0.18" />
            <path d="M9 22 L16 8 L23 22" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round" />
            <circle cx="16" cy="24" r="2.5" fill="#ffb020" />
          </svg> Belay
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav("/", "jobs", "Jobs")}
            {nav("/history", "history", "History")}
            {nav("/cancellations", "cancellations", "Cancellations")}
            {nav("/pools", "pools", "Pools")}
            {nav("/schedules", "schedules", "Schedules")}
          </ul>
        </nav>
        <div class="topbar-end">
          <LiveIndicator />
          <SignOut />
        </div>
      </header>
      <main id="main" class="content" tabIndex={-1}>
        {page === "jobs" ? <JobsPage /> : null}
        {page === "history" ? <HistoryPage /> : null}
        {page === "cancellations" ? <CancellationsPage /> : null}
        {page === "pools" ? <PoolsPage /> : null}
        {page === "schedules" ? <SchedulesPage /> : null}
        {page === "detail" && detail !== null ? <JobDetailPage key={detail[1]} id={decodeURIComponent(detail[1] ?? "")} /> : null}
        {page === "missing" ? (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page at <code>{path}</code>. <Link href="/">Go to the jobs.</Link>
            </p>
          </section>
        ) : null}
      </main>
      <Toasts />
    </>
  );
}

function SignOut(): JSX.Element {
  return (
    <button
      type="button"
      class="button small ghost"
      onClick={() => {
        saveToken(null);
        window.location.reload();
      }}
    >
      Sign out
    </button>
  );
}

/** A sign-in link opened in this page: it replaces whatever token the browser had. */
const signInCode = takeSignInCode();
// A link pasted into a tab already on this page only changes the fragment: load it afresh to use it.
window.addEventListener("hashchange", () => {
  if (window.location.hash.startsWith("#sign-in=")) window.location.reload();
});

function App(): JSX.Element {
  const [code, setCode] = useState(signInCode);
  const [token, setToken] = useState<string | null>(() => (signInCode === null ? loadToken() : null));
  const [expired, setExpired] = useState(false);
  const session = useMemo<SessionValue | null>(
    () =>
      token === null
        ? null
        : {
            token,
            signOut(why) {
              saveToken(null);
              setExpired(why === "expired");
              setToken(null);
            },
          },
    [token],
  );
  setSession(session === null ? null : { token: session.token, onUnauthenticated: () => session.signOut("expired") });
  if (session === null) {
    return (
      <SignIn
        code={code}
        expired={expired}
        onToken={(t) => {
          saveToken(t);
          setCode(null);
          setExpired(false);
          setToken(t);
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Routes />
    </SessionContext.Provider>
  );
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
