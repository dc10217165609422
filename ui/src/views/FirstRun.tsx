// First run: keep everything on this computer, or connect to an organisation.
import { useState } from "preact/hooks";
import { call, commands, messageOf } from "../api";
import { info, route, toast } from "../state";

export function FirstRun() {
  const [busy, setBusy] = useState(false);
  const localOnly = async () => {
    setBusy(true);
    try {
      info.value = await call(commands.useLocalOnly());
      route.value = { name: "record" };
    } catch (err) {
      toast.value = messageOf(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="first-run" aria-labelledby="first-run-title">
      <h1 id="first-run-title">Welcome to Hark</h1>
      <p>Record interviews and watch the transcript appear as you talk.</p>
      <div class="choices">
        <div class="card">
          <h2>On this computer only</h2>
          <p>
            Sessions, transcripts and recordings stay in <code>{info.value?.data_dir}</code>. Audio goes to the transcription
            service only while you record{info.value?.proxy_url ? "" : " (none is configured yet: recordings are kept without a live transcript)"}.
          </p>
          <button id="use-local-only" class="primary" disabled={busy} onClick={localOnly}>
            Use on this computer
          </button>
        </div>
        <div class="card">
          <h2>Connect to your organisation</h2>
          <p>
            Your admin gives you a <code>hark://</code> link or the proxy URL, Supabase URL and anon key. Put them in{" "}
            <code>{info.value?.config_file ?? "the settings file"}</code> (or the <code>HARK_*</code> variables) and restart
            Hark; signing in from this window comes next.
          </p>
        </div>
      </div>
    </section>
  );
}
