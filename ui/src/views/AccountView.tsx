// The organisation: who is signed in, their organisations and roles, sync now, sign out; or the
// sign-in form.
import { useState } from "preact/hooks";
import { call, commands, messageOf } from "../api";
import { account, notify, toast } from "../state";
import { SignIn } from "./SignIn";

export function AccountView() {
  const [busy, setBusy] = useState(false);
  const status = account.value;
  if (!status) return <p aria-busy="true">Loading…</p>;
  if (!status.signed_in)
    return (
      <section class="account">
        <p class="meta">Organisation: {status.project_url}</p>
        <SignIn onSignedIn={() => notify("Signed in: waiting sessions are being synced.")} />
      </section>
    );

  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    try {
      await work();
    } catch (err) {
      toast.value = messageOf(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="account" aria-labelledby="account-title">
      <h1 id="account-title">Your organisation</h1>
      <p id="account-email">
        Signed in as <strong>{status.email}</strong> to {status.project_url}
      </p>
      {status.problem && (
        <p class="banner warning" role="status">
          {status.problem}
        </p>
      )}
      <ul id="organisations">
        {status.organisations.map((m) => (
          <li key={m.org_id}>
            {m.org_name} — {m.role}
          </li>
        ))}
      </ul>
      <div class="row">
        <button id="sync-now" disabled={busy} onClick={() => act(async () => notify(`Syncing ${await call(commands.syncNow())} session(s) again.`))}>
          Sync now
        </button>
        <button id="sign-out" disabled={busy} onClick={() => act(async () => { account.value = await call(commands.signOut()); })}>
          Sign out
        </button>
      </div>
    </section>
  );
}
