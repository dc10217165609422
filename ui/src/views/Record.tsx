// The record screen: interview, sources with live level meters, the recording notice, the big
// controls with a timer, notes and bookmarks, banners, and the live transcript.
import { useEffect, useState } from "preact/hooks";
import type { DeviceChoice, DeviceInfo, Interview } from "../bindings.gen";
import { call, commands, messageOf, reasonOf } from "../api";
import { clock, counted, meterFill } from "../format";
import { account, active, banners, connection, info, levels, notify, paused, recordShortcut, resetRecording, route, stopping, toast } from "../state";
import { TranscriptView } from "./TranscriptView";

const DEFAULT = "default";

function choice(id: string): DeviceChoice {
  return id === DEFAULT ? { mode: "default" } : { mode: "id", id };
}

/** A source's level. It reads the level signal itself, so only the meter redraws ten times a second. */
function Meter({ label, source }: { label: string; source: number }) {
  const fill = Math.round(meterFill(levels.value[source]) * 100);
  return (
    <div class="meter" role="meter" aria-label={`${label} level`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={fill}>
      <div class="meter-fill" style={{ transform: `scaleX(${fill / 100})` }} />
    </div>
  );
}

/** Tells the app whether the meters are in sight (this screen, in a window the user can see), so
 * that levels reach the page only then: each one costs it a script, a style change and a repaint. */
function useMetersShown(): void {
  useEffect(() => {
    const tell = (shown: boolean) => commands.showLevels(shown).catch((err) => console.warn("show_levels", err));
    const onVisibility = () => tell(document.visibilityState === "visible");
    onVisibility();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      tell(false);
    };
  }, []);
}

/** The time recorded, in a component of its own so its ticks redraw only the clock. */
function Timer() {
  const elapsed = useElapsed();
  const held = active.value !== null && paused.value;
  return (
    <div class={`timer${held ? " paused" : ""}`} aria-live="off" id="timer">
      {clock(elapsed)}
      {held && (
        <span class="paused-label" role="status">
          Paused: nothing is recorded until you resume
        </span>
      )}
    </div>
  );
}

/** Time recorded: synced from the recorder's position (which skips pauses), ticking locally. */
function useElapsed(): number {
  const [now, setNow] = useState(0);
  const current = active.value;
  const isPaused = paused.value;
  useEffect(() => {
    if (!current) {
      setNow(0);
      return;
    }
    let base = { at: performance.now(), ms: current.position_ms };
    let live = true;
    call(commands.recordingStatus()).then(
      (status) => {
        if (live && status) base = { at: performance.now(), ms: status.position_ms };
      },
      () => {},
    );
    // One redraw a second, just after the clock's second changes (a paused clock stays still).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      const ms = isPaused ? base.ms : base.ms + performance.now() - base.at;
      setNow(ms);
      if (!isPaused) timer = setTimeout(tick, 1_000 - (ms % 1_000) + 5);
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [current?.session_id, isPaused]);
  return now;
}

export function Record() {
  const [devices, setDevices] = useState<DeviceInfo[]>([]);
  const [interviews, setInterviews] = useState<Interview[]>([]);
  const [interview, setInterview] = useState("");
  const preferred = info.value?.preferences;
  const [mic, setMic] = useState(preferred?.microphone ?? DEFAULT);
  const [system, setSystem] = useState(preferred?.system_audio ?? "none");
  // When the recruiter confirmed the recording notice (kept with the session).
  const [consentAt, setConsentAt] = useState<number | null>(null);
  const consent = consentAt !== null;
  const [busy, setBusy] = useState<"starting" | "stopping" | null>(null);
  const [note, setNote] = useState("");
  const recording = active.value;
  useMetersShown();

  useEffect(() => {
    call(commands.listDevices()).then(
      (found) => {
        setDevices(found);
        // A preferred device that is not connected now: say so and use the default.
        const missing = (id: string | null | undefined, kind: string) => id && id !== DEFAULT && !found.some((d) => d.kind === kind && d.id === id);
        if (missing(preferred?.microphone, "microphone")) {
          setMic(DEFAULT);
          notify(`Your preferred microphone (${preferred?.microphone}) is not connected: using the system default.`);
        }
        if (missing(preferred?.system_audio, "system")) {
          setSystem(DEFAULT);
          notify(`Your preferred system-audio device (${preferred?.system_audio}) is not connected: using the system default output.`);
        }
      },
      (err) => (toast.value = messageOf(err)),
    );
    call(commands.listInterviews()).then(setInterviews, (err) => (toast.value = messageOf(err)));
  }, []);

  const mics = devices.filter((d) => d.kind === "microphone");
  const systems = devices.filter((d) => d.kind === "system");

  const start = async () => {
    setBusy("starting");
    resetRecording();
    try {
      active.value = await call(
        commands.startRecording({
          interview,
          microphone: choice(mic),
          system_audio: system === "none" ? null : choice(system),
          language: preferred?.language ?? null,
          prompt: preferred?.prompt ?? null,
          consent_confirmed_at_ms: consentAt ?? Date.now(),
        }),
      );
    } catch (err) {
      toast.value = messageOf(err);
    } finally {
      setBusy(null);
    }
  };

  const stop = async () => {
    setBusy("stopping");
    stopping.value = true;
    // A note typed but not yet added is kept, not lost with the notes box.
    if (note.trim() !== "") {
      try {
        await call(commands.addNote("note", note));
        setNote("");
      } catch (err) {
        toast.value = `The note was not saved: ${reasonOf(err)}`;
      }
    }
    try {
      const summary = await call(commands.stopRecording());
      active.value = null;
      setConsentAt(null);
      // The moments before a call connects are a short gap of every recording: not worth a word.
      const missed = summary.missed_ms >= 2_000 ? ` The ${clock(summary.missed_ms)} the live transcript missed follows once transcribed.` : "";
      notify(`Saved: ${clock((summary.seconds ?? 0) * 1000)} recorded, ${counted(summary.segments, "segment")} transcribed.${missed}`);
      call(commands.listInterviews()).then(setInterviews, () => {});
    } catch (err) {
      toast.value = messageOf(err);
      // A failed stop may still have ended the recording: show what is true now.
      await call(commands.recordingStatus()).then(
        (now) => (active.value = now),
        () => {},
      );
    } finally {
      setBusy(null);
      stopping.value = false;
    }
  };

  const togglePause = async () => {
    try {
      const now = await call(commands.pauseRecording(!paused.value));
      active.value = now;
      paused.value = now.paused;
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  const addNote = async (kind: "bookmark" | "note") => {
    try {
      await call(commands.addNote(kind, kind === "note" ? note : ""));
      if (kind === "note") setNote("");
      notify(kind === "bookmark" ? "Bookmark added." : "Note added.");
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  const canStart = interview.trim() !== "" && consent && busy === null;

  // The record shortcut does what the buttons would; before the form is ready it says what is missing.
  useEffect(() => {
    if (!recordShortcut.value) return;
    recordShortcut.value = false;
    if (busy !== null) return;
    if (recording) stop();
    else if (canStart) start();
    else {
      notify(interview.trim() === "" ? "Name the interview first, then confirm the recording notice." : "Confirm the recording notice first: then the shortcut starts recording.");
      document.getElementById(interview.trim() === "" ? "interview" : "consent")?.focus();
    }
  }, [recordShortcut.value]);
  const states = Object.entries(connection.value);

  return (
    <section class="record" aria-labelledby="record-title">
      <h1 id="record-title" class="sr-only">Record</h1>
      {banners.value.length > 0 && (
        <div class="banners">
          {banners.value.map((b) => (
            <p key={b.key} class={`banner ${b.tone}`} role="status">
              {b.message}
            </p>
          ))}
        </div>
      )}
      {info.value?.organisation && account.value && !account.value.signed_in && (
        <p class="banner info" role="status" id="signed-out-banner">
          You are not signed in: recordings stay on this computer and sync once you{" "}
          <button class="link" onClick={() => (route.value = { name: "account" })}>
            sign in
          </button>
          .
        </p>
      )}
      {!info.value?.proxy_url && (
        <p class="banner info" role="status">
          No transcription service is configured: recordings are kept, without a live transcript. Set <code>proxy_url</code> in
          the settings file.
        </p>
      )}
      <div class="record-grid">
        <form class="setup" onSubmit={(e) => e.preventDefault()} aria-label="Recording setup">
          <label for="interview">Interview</label>
          <input
            id="interview"
            list="interview-list"
            placeholder="Candidate or role, e.g. Backend engineer – Ada"
            value={interview}
            disabled={recording !== null}
            onInput={(e) => setInterview(e.currentTarget.value)}
          />
          <datalist id="interview-list">
            {interviews.map((i) => (
              <option key={i.id} value={i.job_title}>
                {i.candidate_name ?? ""}
              </option>
            ))}
          </datalist>

          <label for="microphone">Microphone</label>
          <select id="microphone" value={mic} disabled={recording !== null} onChange={(e) => setMic(e.currentTarget.value)}>
            <option value={DEFAULT}>System default</option>
            {mics.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
          <Meter label="Microphone" source={0} />

          <label for="system-audio">System audio (the candidate on a call)</label>
          <select id="system-audio" value={system} disabled={recording !== null} onChange={(e) => setSystem(e.currentTarget.value)}>
            <option value="none">Don't record system audio</option>
            <option value={DEFAULT}>System default output</option>
            {systems.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
          {system !== "none" && <Meter label="System audio" source={1} />}

          <fieldset class="notice">
            <legend>Recording notice</legend>
            <p>Tell the candidate that this interview is recorded and transcribed, and ask whether they agree.</p>
            <label class="check">
              <input id="consent" type="checkbox" checked={consent || recording !== null} disabled={recording !== null} onChange={(e) => setConsentAt(e.currentTarget.checked ? Date.now() : null)} />
              The candidate was told and agreed
            </label>
          </fieldset>
        </form>

        <div class="controls" aria-label="Recording controls">
          <Timer />
          {recording === null ? (
            <button id="record" class="record-button" disabled={!canStart} onClick={start} title={consent ? "" : "Confirm the recording notice first"}>
              {busy === "starting" ? "Starting…" : "● Record"}
            </button>
          ) : (
            <div class="row">
              <button id="pause" onClick={togglePause} disabled={busy !== null}>
                {paused.value ? "Resume" : "Pause"}
              </button>
              <button id="stop" class="stop-button" onClick={stop} disabled={busy !== null}>
                {busy === "stopping" ? "Saving…" : "■ Stop"}
              </button>
            </div>
          )}
          {recording && (
            <div class="notes">
              <button id="bookmark" onClick={() => addNote("bookmark")} disabled={busy !== null}>
                Bookmark
              </button>
              <input id="note" aria-label="Note" placeholder="Note at this moment" disabled={busy !== null} value={note} onInput={(e) => setNote(e.currentTarget.value)} onKeyDown={(e) => e.key === "Enter" && note.trim() && addNote("note")} />
            </div>
          )}
          {states.length > 0 && (
            <ul class="connection" aria-label="Transcription">
              {states.map(([source, state]) => (
                <li key={source} data-state={state}>
                  {source === "system" ? "Candidate" : "You"}: {state}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <TranscriptView />
    </section>
  );
}
