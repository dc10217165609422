// One session: its transcript and notes, and export in every format.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Format, PlaybackStatus, SessionDetail } from "../bindings.gen";
import { call, commands, messageOf, reasonOf } from "../api";
import { clock, counted, isHeld, speaker, when } from "../format";
import { account, backfilled, drafts, notify, route, setDraft, toast } from "../state";
import { lineAt, lineOf } from "../transcript";
import { useVirtualList } from "../virtual";

const FORMATS: { format: Format; label: string }[] = [
  { format: "md", label: "Markdown" },
  { format: "txt", label: "Text" },
  { format: "srt", label: "SRT" },
  { format: "vtt", label: "WebVTT" },
  { format: "json", label: "JSON" },
];

/** How often the position is asked for while playing. */
const PLAYBACK_POLL_MS = 200;

/** Play/pause, the position slider and time for a session's recording, played natively by the
 * app (every source mixed). */
function Player({ status, durationMs, onPlay, onPause }: { status: PlaybackStatus | null; durationMs: number; onPlay: (fromMs: number | null) => void; onPause: () => void }) {
  const playing = status?.playing ?? false;
  const position = status?.position_ms ?? 0;
  const duration = status?.duration_ms ?? durationMs;
  return (
    <div class="playback row" role="group" aria-label="Playback">
      <button id="play-toggle" onClick={() => (playing ? onPause() : onPlay(null))}>
        {playing ? "Pause" : "Play"}
      </button>
      <input
        id="playback-position"
        type="range"
        min={0}
        max={Math.max(duration, 1)}
        step={1000}
        value={position}
        aria-label="Playback position"
        aria-valuetext={`${clock(position)} of ${clock(duration)}`}
        onChange={(e) => onPlay(Number(e.currentTarget.value))}
      />
      <span id="playback-time" class="meta">
        {clock(position)} / {clock(duration)}
      </span>
    </div>
  );
}

/** Where a line sits in the virtualised list. */
interface Placement {
  index: number;
  count: number;
  top: number;
  measure: (el: HTMLElement | null) => void;
}

/** The line whose edit box was just opened, to be focused as it appears. */
let focusNext: string | null = null;

/** One transcript line, editable in place (Enter saves, Escape cancels); its time plays the
 * recording from there. */
function EditableLine({ line, current, found, onSave, onSeek, at }: { line: ReturnType<typeof lineOf>; current: boolean; found: boolean; onSave: (text: string) => Promise<void>; onSeek: ((ms: number) => void) | null; at: Placement }) {
  // The text being typed lives in `drafts`, not in this line: the list drops lines scrolled
  // far out of view, and the recruiter may go to another screen mid-correction.
  const draft = drafts.value[line.key];
  const editing = draft !== undefined;
  const open = () => {
    focusNext = line.key;
    setDraft(line.key, line.text);
  };
  const save = async () => {
    try {
      await onSave(draft ?? line.text);
      setDraft(line.key, null);
    } catch {
      // The error is shown; the line stays open for another try.
    }
  };
  return (
    <p
      class={`line virtual${line.failed ? " failed" : ""}${current ? " current" : ""}${found ? " found" : ""}`}
      data-source={line.source}
      data-segment={line.key}
      aria-current={current ? "true" : undefined}
      data-index={at.index}
      ref={at.measure}
      role="listitem"
      aria-posinset={at.index + 1}
      aria-setsize={at.count}
      style={{ top: `${at.top}px` }}
    >
      <span class="speaker">{line.speaker}</span>
      {onSeek ? (
        <button class="link at seek" aria-label={`Play from ${clock(line.startMs)}`} onClick={() => onSeek(line.startMs)}>
          <time>{clock(line.startMs)}</time>
        </button>
      ) : (
        <time class="at">{clock(line.startMs)}</time>
      )}
      {editing ? (
        <span class="edit">
          <input
            aria-label="Segment text"
            value={draft}
            ref={(input) => {
              // Focused when just opened, not each time the line scrolls back into the list.
              if (input && focusNext === line.key) {
                focusNext = null;
                input.focus();
              }
            }}
            onInput={(e) => setDraft(line.key, e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") save();
              if (e.key === "Escape") setDraft(line.key, null);
            }}
          />
          <button class="save-edit" onClick={save}>
            Save
          </button>
        </span>
      ) : (
        <span class="text">
          {line.failed ? "(missed by the live transcript; kept in the recording and transcribed afterwards)" : line.text}{" "}
          {line.later && (
            <small class="later" title="The live transcript missed this; Hark transcribed it from the recording afterwards">
              transcribed afterwards
            </small>
          )}{" "}
          {!line.failed && (
            <button class="link edit-line" aria-label={`Edit: ${line.text}`} onClick={open}>
              Edit
            </button>
          )}
        </span>
      )}
    </p>
  );
}

/** A session; `found` is a segment to show first (a search hit), scrolled to and outlined. */
export function SessionView({ id, found }: { id: string; found?: string }) {
  const [detail, setDetail] = useState<SessionDetail | null>(null);
  const [exported, setExported] = useState<{ format: Format; text: string } | null>(null);
  const [renaming, setRenaming] = useState<{ source: string; name: string } | null>(null);
  const [playback, setPlayback] = useState<PlaybackStatus | null>(null);
  const confirmDelete = useRef<HTMLDialogElement>(null);
  const confirmShare = useRef<HTMLDialogElement>(null);
  // The transcript is virtualised inside the page's own scrolling (`main`), below the rest of
  // the session; `margin` is where it begins there.
  const listBox = useRef<HTMLDivElement>(null);
  const [margin, setMargin] = useState(0);
  const lines = useMemo(() => (detail ? detail.segments.map(lineOf) : []), [detail]);
  const list = useVirtualList({
    count: lines.length,
    scroller: () => listBox.current?.closest("main") ?? null,
    key: (i) => lines[i].key,
    scrollMargin: margin,
  });
  useLayoutEffect(() => {
    const box = listBox.current;
    const page = box?.closest("main");
    if (!box || !page) return;
    const begins = box.getBoundingClientRect().top - page.getBoundingClientRect().top - page.clientTop + page.scrollTop;
    if (Math.abs(begins - margin) > 0.5) setMargin(begins);
  });

  // A search hit: once the lines are in and the list knows where it begins, bring the hit's
  // line into the middle of the view, once (later layout changes must not scroll back to it).
  const shownFound = useRef<string | null>(null);
  useEffect(() => {
    if (!found || shownFound.current === found || margin === 0) return;
    const index = lines.findIndex((line) => line.key === found);
    if (index < 0) return;
    shownFound.current = found;
    list.scrollToIndex(index, { align: "center" });
  }, [found, lines, margin]);

  const load = () => call(commands.sessionDetail(id)).then(setDetail, (err) => (toast.value = messageOf(err)));
  useEffect(() => {
    load();
  }, [id]);
  // What the live transcript missed was just transcribed: show it.
  const filled = backfilled.value;
  useEffect(() => {
    if (filled?.sessionId === id) load();
  }, [filled]);

  const sessionId = detail?.session.id ?? null;
  const showPlayback = (status: PlaybackStatus | null) => {
    setPlayback(status);
    if (status?.problem) toast.value = status.problem;
  };
  const play = async (fromMs: number | null) => {
    if (sessionId === null) return;
    try {
      showPlayback(await call(commands.playRecording(sessionId, fromMs)));
    } catch (err) {
      toast.value = messageOf(err);
    }
  };
  const pause = async () => {
    if (sessionId === null) return;
    try {
      showPlayback(await call(commands.pausePlayback(sessionId)));
    } catch (err) {
      toast.value = messageOf(err);
    }
  };
  // While playing, follow the position; leaving the session stops the sound.
  useEffect(() => {
    if (sessionId === null || !playback?.playing) return;
    const timer = setInterval(() => {
      call(commands.playbackStatus(sessionId)).then(showPlayback, () => {});
    }, PLAYBACK_POLL_MS);
    return () => clearInterval(timer);
  }, [sessionId, playback?.playing]);
  useEffect(() => {
    if (sessionId === null) return;
    return () => {
      commands.pausePlayback(sessionId);
    };
  }, [sessionId]);

  // An open export preview (and what Copy copies) shows the transcript as it was: after an
  // edit or a rename it is rendered again, unless it was closed or switched meanwhile.
  const refreshExport = async () => {
    if (!exported) return;
    const { format } = exported;
    try {
      const text = await call(commands.exportSession(id, format));
      setExported((open) => (open?.format === format ? { format, text } : open));
    } catch (err) {
      setExported(null);
      toast.value = messageOf(err);
    }
  };

  const editText = async (segmentId: string, text: string) => {
    try {
      await call(commands.editSegment(segmentId, text));
      await load();
      await refreshExport();
    } catch (err) {
      toast.value = messageOf(err);
      throw err;
    }
  };

  const rename = async () => {
    if (!renaming || !detail) return;
    try {
      await call(commands.renameSpeaker(detail.session.id, renaming.source, renaming.name.trim() === "" ? null : renaming.name));
      setRenaming(null);
      await load();
      await refreshExport();
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  const remove = async () => {
    try {
      await call(commands.deleteSession(id));
      confirmDelete.current?.close();
      notify("Session deleted from this computer.");
      route.value = { name: "library" };
    } catch (err) {
      confirmDelete.current?.close();
      toast.value = messageOf(err);
    }
  };

  const share = async () => {
    try {
      await call(commands.shareSession(id));
      confirmShare.current?.close();
      notify("Sending it to your organisation.");
      await load();
    } catch (err) {
      confirmShare.current?.close();
      toast.value = messageOf(err);
    }
  };

  const exportAs = async (format: Format) => {
    try {
      setExported({ format, text: await call(commands.exportSession(id, format)) });
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  const saveAs = async (format: Format) => {
    try {
      const path = await call(commands.saveExport(id, format));
      if (path !== null) notify(`Saved to ${path}`);
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
      toast.value = `Cannot copy: ${reasonOf(err)}`;
    }
  };

  if (detail === null) return <p aria-busy="true">Loading…</p>;
  const { session, interview } = detail;
  const playable = session.recording_path !== null;
  const heard = playback?.playing ? lineAt(lines, playback.position_ms) : null;
  return (
    <section class="session" aria-labelledby="session-title">
      <button class="link" onClick={() => (route.value = { name: "library" })}>
        ← Library
      </button>
      <h1 id="session-title">{interview.job_title}</h1>
      <p class="meta">
        {interview.candidate_name ? `${interview.candidate_name} · ` : ""}
        {when(session.started_at_ms)} · {clock((session.seconds_recorded ?? 0) * 1000)} · {counted(detail.segments.length, "segment")}
          {session.state === "interrupted" && <span class="cut-short"> · cut short: the recording ended unexpectedly</span>}
      </p>
      <p class="meta" id="consent-record">
        {session.consent
          ? `Recording notice confirmed ${when(session.consent.at_ms)}${session.consent.by ? "" : " at this computer"}.`
          : "No recording notice was confirmed for this session."}
      </p>
      {isHeld(detail) && (
        <div class="held row" id="sync-held">
          <p>Not sent to your organisation: {detail.held}.</p>
          {account.value?.signed_in ? (
            session.state !== "recording" && (
              <button id="share-session" onClick={() => confirmShare.current?.showModal()}>
                Send to organisation…
              </button>
            )
          ) : (
            <p class="meta">{account.value === null ? "Connect to your organisation (Settings) and sign in to send it." : "Sign in to your organisation to send it."}</p>
          )}
        </div>
      )}
      <dialog ref={confirmShare} id="confirm-share" aria-labelledby="confirm-share-title">
        <h2 id="confirm-share-title">Send this session to your organisation?</h2>
        <p id="confirm-share-text">
          Its transcript, notes and details go to {account.value?.project_url ?? "your organisation's project"} as recorded by you ({account.value?.email ?? "the signed-in account"}), where
          every member of your organisation can read them. The recording file stays on this computer.
          {untranscribed(detail) && " It has no transcript yet: once sent, its recording is transcribed through your organisation's transcription service, and the transcript follows here."}
        </p>
        <div class="row">
          <button autofocus onClick={() => confirmShare.current?.close()}>
            Keep it here
          </button>
          <button id="confirm-share-button" class="primary" onClick={share}>
            Send
          </button>
        </div>
      </dialog>
      <div class="speakers" role="group" aria-label="Speakers">
        {detail.session.sources.map((source) => {
          const current = speaker(source, detail.segments.find((seg) => seg.source === source)?.speaker_label ?? null);
          return renaming?.source === source ? (
            <span key={source} class="row">
              <input id={`speaker-name-${source}`} aria-label={`Name for ${current}`} value={renaming.name} onInput={(e) => setRenaming({ source, name: e.currentTarget.value })} onChange={(e) => setRenaming({ source, name: e.currentTarget.value })} onKeyDown={(e) => e.key === "Enter" && rename()} />
              <button id={`save-speaker-${source}`} onClick={rename}>
                Save
              </button>
            </span>
          ) : (
            <button key={source} id={`rename-${source}`} onClick={() => setRenaming({ source, name: current })}>
              Rename “{current}”
            </button>
          );
        })}
        <button
          id="delete-session"
          class="danger"
          onClick={async () => {
            // Read again first: the warning depends on the sync state, which moves on its own.
            await load();
            confirmDelete.current?.showModal();
          }}
        >
          Delete…
        </button>
      </div>
      <dialog ref={confirmDelete} id="confirm-delete" aria-labelledby="confirm-delete-title">
        <h2 id="confirm-delete-title">Delete this session?</h2>
        <p id="confirm-delete-text">
          Its transcript, notes and recording are removed from this computer. {deleteWarning(detail.sync_state)}
        </p>
        <div class="row">
          <button autofocus onClick={() => confirmDelete.current?.close()}>
            Keep it
          </button>
          <button id="confirm-delete-button" class="danger" onClick={remove}>
            Delete
          </button>
        </div>
      </dialog>
      <div class="exports" role="group" aria-label="Export">
        {FORMATS.map(({ format, label }) => (
          <button key={format} id={`export-${format}`} onClick={() => exportAs(format)}>
            {label}
          </button>
        ))}
        <button id="save-docx" onClick={() => saveAs("docx")}>
          Save as Word…
        </button>
      </div>
      {exported && (
        <div class="export-preview">
          <div class="row">
            <strong>{FORMATS.find((f) => f.format === exported.format)?.label} export</strong>
            <button onClick={copy}>Copy</button>
            <button id="save-export" onClick={() => saveAs(exported.format)}>
              Save…
            </button>
            <button onClick={() => setExported(null)}>Close</button>
          </div>
          <pre id="export-text">{exported.text}</pre>
        </div>
      )}
      {detail.notes.length > 0 && (
        <ul class="session-notes" aria-label="Notes and bookmarks">
          {detail.notes.map((n) => (
            <li key={n.id}>
              {playable ? (
                <button class="link seek" aria-label={`Play from ${clock(n.at_ms)}`} onClick={() => play(n.at_ms)}>
                  <time>{clock(n.at_ms)}</time>
                </button>
              ) : (
                <time>{clock(n.at_ms)}</time>
              )}{" "}
              {n.kind === "bookmark" && (
                <span class="bookmark-mark">
                  <BookmarkIcon /> Bookmark
                </span>
              )}{" "}
              {n.body}
            </li>
          ))}
        </ul>
      )}
      {playable ? (
        <Player status={playback} durationMs={(session.seconds_recorded ?? 0) * 1000} onPlay={play} onPause={pause} />
      ) : (
        <p class="meta" id="no-audio">
          The audio stayed on the computer that recorded this session; the transcript is all there is here.
        </p>
      )}
      <div class="transcript-lines static" id="session-transcript" ref={listBox}>
        <div class="virtual-lines" role="list" aria-label="Transcript" style={{ height: `${list.getTotalSize()}px` }}>
          {list.getVirtualItems().map((item) => {
            const line = lines[item.index];
            return (
              <EditableLine
                key={`${line.key}:${line.text}`}
                line={line}
                current={heard?.key === line.key}
                found={found === line.key}
                onSave={(text) => editText(line.key, text)}
                onSeek={playable ? play : null}
                at={{ index: item.index, count: lines.length, top: item.start - margin, measure: list.measureElement }}
              />
            );
          })}
        </div>
      </div>
    </section>
  );
}

/** Whether a local-only session has a source with no line at all: sending it has that
 * recording transcribed through the organisation (the shell leaves it to back-fill). */
function untranscribed(detail: SessionDetail): boolean {
  return detail.session.destination.kind === "local_only" && detail.session.sources.some((source) => !detail.segments.some((seg) => seg.source === source));
}

/** What deleting loses, from the session's own sync state (not its interview's: an interview
 * in the organisation says nothing about whether this session reached it). */
function deleteWarning(syncState: string | null): string {
  switch (syncState) {
    case "synced":
      return "The copy in your organisation stays.";
    case "syncing":
      return "It is being sent to your organisation right now: wait until it has finished syncing, then delete it.";
    default:
      return "It has not been synced to your organisation, so this is the only copy: deleting it cannot be undone.";
  }
}

/** A bookmark's mark, drawn rather than an emoji: not every system has a font with one. */
function BookmarkIcon() {
  return (
    <svg class="icon" viewBox="0 0 12 16" width="10" height="13" aria-hidden="true" focusable="false">
      <path d="M1 1h10v14l-5-4-5 4z" fill="currentColor" />
    </svg>
  );
}
