// One session: its transcript and notes, and export in every format.
import { useEffect, useState } from "preact/hooks";
import type { Format, SessionDetail } from "../bindings.gen";
import { call, commands, messageOf } from "../api";
import { clock, when } from "../format";
import { notify, route, toast } from "../state";
import { lineOf } from "../transcript";

const FORMATS: { format: Format; label: string }[] = [
  { format: "md", label: "Markdown" },
  { format: "txt", label: "Text" },
  { format: "srt", label: "SRT" },
  { format: "vtt", label: "WebVTT" },
  { format: "json", label: "JSON" },
];

export function SessionView({ id }: { id: string }) {
  const [detail, setDetail] = useState<SessionDetail | null>(null);
  const [exported, setExported] = useState<{ format: Format; text: string } | null>(null);

  useEffect(() => {
    call(commands.sessionDetail(id)).then(setDetail, (err) => (toast.value = messageOf(err)));
  }, [id]);

  const exportAs = async (format: Format) => {
    try {
      setExported({ format, text: await call(commands.exportSession(id, format)) });
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  const copy = async () => {
    if (!exported) return;
    try {
      await navigator.clipboard.writeText(exported.text);
      notify("Copied.");
    } catch (err) {
      toast.value = `Cannot copy: ${messageOf(err)}`;
    }
  };

  if (detail === null) return <p aria-busy="true">Loading…</p>;
  const { session, interview } = detail;
  return (
    <section class="session" aria-labelledby="session-title">
      <button class="link" onClick={() => (route.value = { name: "library" })}>
        ← Library
      </button>
      <h1 id="session-title">{interview.job_title}</h1>
      <p class="meta">
        {interview.candidate_name ? `${interview.candidate_name} · ` : ""}
        {when(session.started_at_ms)} · {clock((session.seconds_recorded ?? 0) * 1000)} · {detail.segments.length} segments
      </p>
      <p class="meta" id="consent-record">
        {session.consent
          ? `Recording notice confirmed ${when(session.consent.at_ms)}${session.consent.by ? "" : " at this computer"}.`
          : "No recording notice was confirmed for this session."}
      </p>
      <div class="exports" role="group" aria-label="Export">
        {FORMATS.map(({ format, label }) => (
          <button key={format} id={`export-${format}`} onClick={() => exportAs(format)}>
            {label}
          </button>
        ))}
      </div>
      {exported && (
        <div class="export-preview">
          <div class="row">
            <strong>{FORMATS.find((f) => f.format === exported.format)?.label} export</strong>
            <button onClick={copy}>Copy</button>
            <button onClick={() => setExported(null)}>Close</button>
          </div>
          <pre id="export-text">{exported.text}</pre>
        </div>
      )}
      {detail.notes.length > 0 && (
        <ul class="session-notes" aria-label="Notes and bookmarks">
          {detail.notes.map((n) => (
            <li key={n.id}>
              <time>{clock(n.at_ms)}</time> {n.kind === "bookmark" ? "🔖 Bookmark" : ""} {n.body}
            </li>
          ))}
        </ul>
      )}
      <div class="transcript-lines static" id="session-transcript">
        {detail.segments.map(lineOf).map((line) => (
          <p key={line.key} class={`line${line.failed ? " failed" : ""}`} data-source={line.source}>
            <span class="speaker">{line.speaker}</span>
            <time class="at">{clock(line.startMs)}</time>
            <span class="text">{line.failed ? "(not transcribed; kept in the recording)" : line.text}</span>
          </p>
        ))}
      </div>
    </section>
  );
}
