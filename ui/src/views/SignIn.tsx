// Signing in to the organisation: email and password, a code or a link sent by email, or single
// sign-on in the system browser.
import { useState } from "preact/hooks";
import { call, commands, messageOf } from "../api";
import type { AccountStatus } from "../bindings.gen";
import { account } from "../state";

type Method = "password" | "code" | "link" | "sso";

export function SignIn({ onSignedIn }: { onSignedIn?: (status: AccountStatus) => void }) {
  const [method, setMethod] = useState<Method>("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [codeSent, setCodeSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (work: () => Promise<AccountStatus | void>) => {
    setBusy(true);
    setError(null);
    try {
      const status = await work();
      if (status) {
        account.value = status;
        onSignedIn?.(status);
      }
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="sign-in" aria-labelledby="sign-in-title" onSubmit={(e) => e.preventDefault()}>
      <h2 id="sign-in-title">Sign in to your organisation</h2>
      <div class="row" role="tablist" aria-label="How to sign in">
        {(
          [
            ["password", "Password"],
            ["code", "Email code"],
            ["link", "Email link"],
            ["sso", "Google or Microsoft"],
          ] as [Method, string][]
        ).map(([value, label]) => (
          <button key={value} type="button" role="tab" id={`method-${value}`} aria-selected={method === value} class={method === value ? "tab active" : "tab"} onClick={() => setMethod(value)}>
            {label}
          </button>
        ))}
      </div>
      {method !== "sso" && (
        <>
          <label for="email">Work email</label>
          <input id="email" type="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </>
      )}
      {method === "password" && (
        <>
          <label for="password">Password</label>
          <input id="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <button id="sign-in" class="primary" type="submit" disabled={busy || !email || !password} onClick={() => run(() => call(commands.signInPassword(email, password)))}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </>
      )}
      {method === "code" &&
        (codeSent ? (
          <>
            <label for="code">The code from the email</label>
            <input id="code" inputMode="numeric" autocomplete="one-time-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} />
            <button id="verify-code" class="primary" type="submit" disabled={busy || !code} onClick={() => run(() => call(commands.verifyEmailCode(email, code)))}>
              Sign in
            </button>
          </>
        ) : (
          <button id="send-code" class="primary" type="submit" disabled={busy || !email} onClick={() => run(async () => { await call(commands.sendEmailCode(email)); setCodeSent(true); })}>
            Email me a code
          </button>
        ))}
      {method === "link" && (
        <>
          <button id="send-link" class="primary" type="submit" disabled={busy || !email} onClick={() => run(() => call(commands.signInEmailLink(email)))}>
            Email me a sign-in link
          </button>
          {busy && (
            <p role="status" id="link-sent">
              A link is on its way to {email}. Open it on this computer: Hark signs you in as soon as it opens (it waits ten minutes).
            </p>
          )}
        </>
      )}
      {method === "sso" && (
        <div class="row">
          <button id="sso-google" type="button" disabled={busy} onClick={() => run(() => call(commands.signInSso("google")))}>
            Continue with Google
          </button>
          <button id="sso-azure" type="button" disabled={busy} onClick={() => run(() => call(commands.signInSso("azure")))}>
            Continue with Microsoft
          </button>
          {busy && <p role="status">Finish signing in in your browser…</p>}
        </div>
      )}
      {error && (
        <p class="banner warning" role="alert" id="sign-in-error">
          {error}
        </p>
      )}
    </form>
  );
}
