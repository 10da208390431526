/** Asks for an API token once (kept in this browser), or offers the server's local admin token on localhost. */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { belay } from "../api.ts";
import { ErrorNote } from "../components/Notice.tsx";

export function SignIn(props: { onToken: (token: string) => void; expired: boolean }): JSX.Element {
  const [token, setToken] = useState("");
  const [local, setLocal] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    void belay.localToken().then(setLocal);
  }, []);

  const use = async (candidate: string): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await belay.checkToken(candidate);
      props.onToken(candidate);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <div class="signin-card">
        <h1>
          <svg class="logo" viewBox="0 0 32 32" width="30" height="30" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#1c3d6e" />
            <path d="M9 22 L16 8 L23 22" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round" />
            <circle cx="16" cy="24" r="2.5" fill="#ffb020" />
          </svg>{" "}
          Belay
        </h1>
        {props.expired ? (
          <p class="note note-error" role="alert">
            The server no longer accepts the token this browser had (it may have been revoked). Sign in again.
          </p>
        ) : null}
        {local === null ? null : (
          <div class="local-offer">
            <p>This browser is on the server's own machine, so it can use the server's admin token.</p>
            <button type="button" class="button primary" disabled={busy} onClick={() => void use(local)}>
              Use this server's admin token
            </button>
          </div>
        )}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (token.trim() !== "") void use(token.trim());
          }}
        >
          <div class="field">
            <label for="token">{local === null ? "API token" : "Or paste an API token"}</label>
            <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} placeholder="belay_…" />
            <span class="hint">
              The first <code>belay serve</code> writes an admin token to <code>$BELAY_HOME/admin.token</code>; <code>belay token create --role viewer</code> makes others. The token is kept in this
              browser only.
            </span>
          </div>
          <ErrorNote error={error} />
          <button type="submit" class="button" disabled={busy || token.trim() === ""}>
            {busy ? "Checking…" : "Sign in"}
          </button>
        </form>
      </div>
    </main>
  );
}
