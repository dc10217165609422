// The UI's state as signals, and the one place recorder events change it.
import { effect, signal } from "@preact/signals";
import type { AccountStatus, Active, AppInfo, LevelsEvent, RecorderEvent, ShortcutUsed, SyncEvent, UpdateCheck, Warning } from "./bindings.gen";
import { clock, sentence } from "./format";
import { applyEvent, emptyTranscript, type Transcript } from "./transcript";

export type Route = { name: "first-run" } | { name: "record" } | { name: "library" } | { name: "account" } | { name: "settings"; focus?: "updates" } | { name: "session"; id: string; segment?: string };

/** A banner above the record screen; `key` replaces an older banner about the same thing. */
export interface Banner {
  key: string;
  tone: "warning" | "info";
  message: string;
}

export const info = signal<AppInfo | null>(null);

/** The chosen theme on the page (`data-theme`); without one the system decides. */
effect(() => {
  const theme = info.value?.preferences.theme;
  if (theme && theme !== "system") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
});
/** The organisation's account; `null` in local-only mode or before it is known. */
export const account = signal<AccountStatus | null>(null);
/** The latest sync status per session id, from sync events. */
export const syncStatus = signal<Record<string, SyncEvent>>({});

/** Applies one sync event. */
export function onSyncEvent(event: SyncEvent): void {
  syncStatus.value = { ...syncStatus.value, [event.session_id]: event };
}
export const route = signal<Route>({ name: "record" });
/** What the last update check found (the quiet one after start, or Settings'). */
export const update = signal<UpdateCheck | null>(null);
/** The quiet update check: this long after start, then daily. */
export const UPDATE_CHECK_AFTER_MS = 5_000;
export const UPDATE_CHECK_EVERY_MS = 24 * 60 * 60 * 1000;
export const active = signal<Active | null>(null);
/** Stop was pressed and the recording is being saved (the window closes only after it). */
export const stopping = signal(false);
export const paused = signal(false);
export const transcript = signal<Transcript>(emptyTranscript());
/** Peak level per source index (dBFS). */
export const levels = signal<number[]>([-120, -120]);
export const connection = signal<Record<string, string>>({});
export const banners = signal<Banner[]>([]);
/** The message at the bottom: errors stay until dismissed, news from [`notify`] fades. */
export const toast = signal<string | null>(null);

/** Shows news (not an error) for a few seconds. */
export function notify(message: string, ms = 6_000): void {
  toast.value = message;
  setTimeout(() => {
    if (toast.value === message) toast.value = null;
  }, ms);
}

const SOURCE_NAMES = ["Microphone", "System audio"];

export function setBanner(banner: Banner): void {
  banners.value = [...banners.value.filter((b) => b.key !== banner.key), banner];
}

export function clearBanner(key: string): void {
  if (banners.value.some((b) => b.key === key)) banners.value = banners.value.filter((b) => b.key !== key);
}

function warningText(source: string, warning: Warning): string {
  switch (warning.kind) {
    case "silence":
      return `No audio from the ${source.toLowerCase()} for ${Math.round(warning.seconds ?? 0)} s: is it muted, or the wrong device?`;
    case "no_callbacks":
      return `The ${source.toLowerCase()} stopped delivering audio ${Math.round(warning.seconds ?? 0)} s ago; reopening it. Recording continues.`;
    case "device_lost":
      return `${warning.device} disappeared (${warning.message}); reopening. Recording continues.`;
    case "open_failed":
      return `The ${source.toLowerCase()} cannot be opened: ${warning.message}`;
    case "overflow":
      return `The ${source.toLowerCase()} delivered audio faster than it could be saved; ${warning.dropped_samples} samples were lost.`;
    case "write_failed":
      return `The recording can no longer be saved (${warning.message}): free some disk space. What was recorded until now is kept.`;
  }
}

/** Transcript corrections being typed, by segment id: kept while the line scrolls out of the
 * list or the recruiter goes to another screen, until saved or cancelled. */
export const drafts = signal<Record<string, string>>({});

export function setDraft(segment: string, text: string | null): void {
  const { [segment]: _, ...others } = drafts.value;
  drafts.value = text === null ? others : { ...others, [segment]: text };
}

/** The record shortcut was pressed and the record screen has not acted on it yet. */
export const recordShortcut = signal(false);
/** The last session whose transcript back-fill changed, and when (a view showing it reloads). */
export const backfilled = signal<{ sessionId: string; at: number } | null>(null);

/** The words for the shortcut keys on this system (⌘ on macOS). */
export function keysLabel(keys: string): string {
  const mac = navigator.platform.startsWith("Mac");
  return keys.replace("CommandOrControl", mac ? "⌘" : "Ctrl").replace("Alt", mac ? "⌥" : "Alt");
}

/** Applies a global shortcut: record goes to the record screen, which starts or stops. */
export function onShortcut(used: ShortcutUsed): void {
  switch (used.result) {
    case "record":
      route.value = { name: "record" };
      recordShortcut.value = true;
      break;
    case "bookmarked":
      notify(`Bookmark added at ${clock(used.at_ms)}.`);
      break;
    case "not_recording":
      notify("Nothing is being recorded: the bookmark shortcut works while recording.");
      break;
    case "failed":
      toast.value = `The bookmark was not added: ${used.message}`;
      break;
  }
}

/** Applies the meters' levels: each source's new peak, where it has one. */
export function onLevels(event: LevelsEvent): void {
  const next = [...levels.value];
  event.peaks_dbfs.forEach((peak, source) => {
    if (peak !== null) next[source] = peak;
  });
  levels.value = next;
}

/** Applies one recorder event to the state (levels come as a `LevelsEvent`). */
export function onRecorderEvent(event: RecorderEvent): void {
  transcript.value = applyEvent(transcript.value, event);
  switch (event.type) {
    case "audio": {
      const audio = event.event;
      const name = SOURCE_NAMES[audio.source] ?? `Source ${audio.source + 1}`;
      if (audio.type === "warning") {
        setBanner({ key: `audio:${audio.source}:${audio.warning.kind}`, tone: "warning", message: warningText(name, audio.warning) });
      } else if (audio.type === "cleared") {
        clearBanner(`audio:${audio.source}:${audio.warning}`);
      } else if (audio.type === "switched") {
        const why = audio.reason === "fallback" ? `${audio.from} was unplugged` : audio.reason === "restored" ? `${audio.to} is back` : "the system default changed";
        setBanner({ key: `switch:${audio.source}`, tone: "info", message: `${name}: ${why}, now recording from ${audio.to}.` });
      }
      break;
    }
    case "connection":
      connection.value = { ...connection.value, [event.source]: event.state };
      if (event.state === "connected") clearBanner(`call:${event.source}`);
      break;
    case "warning":
      setBanner({ key: `call:${event.source ?? "all"}`, tone: "warning", message: sentence(event.message) });
      break;
    case "paused":
      paused.value = event.paused;
      break;
    case "backfilled":
      backfilled.value = { sessionId: event.session_id, at: Date.now() };
      break;
    default:
      break;
  }
}

/** Resets what the record screen shows for a new recording. */
export function resetRecording(): void {
  transcript.value = emptyTranscript();
  connection.value = {};
  banners.value = [];
  paused.value = false;
  levels.value = [-120, -120];
}
