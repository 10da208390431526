/** Signs in with the one-time code of a sign-in link (`belay serve` / `belay ui`), or asks for an API token once (kept in this browser). */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, belay } from "../api.ts";
import { ErrorNote } from "../components/Notice.tsx";

export function SignIn(props: { onToken: (token: string) => void; expired: boolean; code: string | null }): JSX.Element {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(props.code !== null);
  const [error, setError] = useState<unknown>(null);
  const [linkFailed, setLinkFailed] = useState(false);

  useEffect(() => {
    if (props.code === null) return;
    belay.redeemSignInCode(props.code).then(props.onToken, (e: unknown) => {
      setLinkFailed(true);
      if (!(e instanceof ApiError && e.status === 401)) setError(e);
      setBusy(false);
    });
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
        {linkFailed ? (
          <p class="note note-error" role="alert">
            This sign-in link was already used or has expired. Run <code>belay ui</code> on the server for a new one, or paste a token.
          </p>
        ) : null}
        {props.code !== null && busy ? <p role="status">Signing in…</p> : null}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (token.trim() !== "") void use(token.trim());
          }}
        >
          <div class="field">
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} placeholder="belay_…" />
            <span class="hint">
              <code>belay serve</code> prints a sign-in link, and <code>belay ui</code> a new one; or paste a token (<code>belay token create --role viewer</code> makes one). The token is kept in
              this browser only.
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
