// Settings: about this copy of Hark (version, folders) and a diagnostics report to copy for
// support (no keys or tokens in it).
import { useState } from "preact/hooks";
import { call, commands, messageOf } from "../api";
import { info, notify, toast } from "../state";

export function Settings() {
  const [report, setReport] = useState<string | null>(null);
  const app = info.value;

  const diagnostics = async () => {
    try {
      const text = await call(commands.diagnostics());
      setReport(text);
      try {
        await navigator.clipboard.writeText(text);
        notify("Diagnostics copied: paste them into your message to support.");
      } catch {
        notify("Select the report below and copy it.");
      }
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  return (
    <section class="settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <h2>About</h2>
      <dl class="about">
        <dt>Version</dt>
        <dd id="about-version">{app?.version}</dd>
        <dt>Sessions and recordings</dt>
        <dd>
          <code>{app?.data_dir}</code>
        </dd>
        <dt>Settings file</dt>
        <dd>
          <code>{app?.config_file ?? "none"}</code>
        </dd>
        <dt>Transcription</dt>
        <dd>{app?.proxy_url ?? "not configured (recordings are kept without a live transcript)"}</dd>
      </dl>
      <button id="copy-diagnostics" onClick={diagnostics}>
        Copy diagnostics
      </button>
      {report && (
        <pre id="diagnostics" class="export-preview" tabIndex={0}>
          {report}
        </pre>
      )}
    </section>
  );
}
