// First run: sign in to the organisation the settings name, keep everything on this computer,
// or connect to an organisation with the details an admin hands out (Hark then restarts).
import { useState } from "preact/hooks";
import { call, commands, messageOf } from "../api";
import { info, route, toast } from "../state";
import { SignIn } from "./SignIn";

async function finish() {
  info.value = await call(commands.finishFirstRun());
  route.value = { name: "record" };
}

function ConnectForm() {
  const [proxyUrl, setProxyUrl] = useState("");
  const [supabaseUrl, setSupabaseUrl] = useState("");
  const [anonKey, setAnonKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const connect = async () => {
    setBusy(true);
    setError(null);
    try {
      await call(commands.connectOrganisation({ proxy_url: proxyUrl, supabase_url: supabaseUrl, supabase_anon_key: anonKey }));
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };
  return (
    <form class="connect" onSubmit={(e) => e.preventDefault()} aria-label="Connect to your organisation">
      <label for="proxy-url">Transcription proxy URL</label>
      <input id="proxy-url" placeholder="https://hark-proxy.example.com/v1" value={proxyUrl} onInput={(e) => setProxyUrl(e.currentTarget.value)} />
      <label for="supabase-url">Supabase URL</label>
      <input id="supabase-url" placeholder="https://abcdefgh.supabase.co" value={supabaseUrl} onInput={(e) => setSupabaseUrl(e.currentTarget.value)} />
      <label for="anon-key">Supabase anon key</label>
      <input id="anon-key" value={anonKey} onInput={(e) => setAnonKey(e.currentTarget.value)} />
      <button id="connect" class="primary" type="submit" disabled={busy || !supabaseUrl || !anonKey} onClick={connect}>
        {busy ? "Restarting…" : "Connect and restart Hark"}
      </button>
      {error && (
        <p class="banner warning" role="alert" id="connect-error">
          {error}
        </p>
      )}
    </form>
  );
}

export function FirstRun() {
  const [busy, setBusy] = useState(false);
  const done = async () => {
    setBusy(true);
    try {
      await finish();
    } catch (err) {
      toast.value = messageOf(err);
    } finally {
      setBusy(false);
    }
  };
  const app = info.value;
  return (
    <section class="first-run" aria-labelledby="first-run-title">
      <h1 id="first-run-title">Welcome to Hark</h1>
      <p>Record interviews and watch the transcript appear as you talk.</p>
      {app?.organisation ? (
        <div class="choices">
          <div class="card">
            <SignIn onSignedIn={done} />
          </div>
          <div class="card">
            <h2>Not now</h2>
            <p>Recording works without signing in; sessions wait on this computer and sync once you sign in.</p>
            <button id="skip-sign-in" disabled={busy} onClick={done}>
              Continue without signing in
            </button>
          </div>
        </div>
      ) : (
        <div class="choices">
          <div class="card">
            <h2>On this computer only</h2>
            <p>
              Sessions, transcripts and recordings stay in <code>{app?.data_dir}</code>. Audio goes to the transcription
              service only while you record{app?.proxy_url ? "" : " (none is configured yet: recordings are kept without a live transcript)"}.
            </p>
            <button id="use-local-only" class="primary" disabled={busy} onClick={done}>
              Use on this computer
            </button>
          </div>
          <div class="card">
            <h2>Connect to your organisation</h2>
            <p>Your admin gives you these three values.</p>
            <ConnectForm />
          </div>
        </div>
      )}
    </section>
  );
}
