// The window: navigation, the current screen, what a crash cut short, and the error toast. Loads the app's facts and
// subscribes to recorder events once.
import { useEffect, useState } from "preact/hooks";
import { call, commands, events, messageOf } from "./api";
import type { Interrupted } from "./bindings.gen";
import { clock } from "./format";
import { account, active, info, paused, onLevels, onRecorderEvent, onShortcut, onSyncEvent, route, toast, update, UPDATE_CHECK_AFTER_MS, UPDATE_CHECK_EVERY_MS } from "./state";
import { AccountView } from "./views/AccountView";
import { Settings } from "./views/Settings";
import { CloseGuard } from "./views/CloseGuard";
import { FirstRun } from "./views/FirstRun";
import { Library } from "./views/Library";
import { LinkDialog } from "./views/LinkDialog";
import { Record } from "./views/Record";
import { SessionView } from "./views/SessionView";

export function App() {
  // Recordings a crash cut short, found at this start; each is told once, until dismissed.
  const [cutShort, setCutShort] = useState<Interrupted[]>([]);
  useEffect(() => {
    const unlisten: (() => void)[] = [];
    events.recordingEvent.listen((e) => onRecorderEvent(e.payload)).then((stop) => unlisten.push(stop));
    events.levelsEvent.listen((e) => onLevels(e.payload)).then((stop) => unlisten.push(stop));
    events.syncStatusEvent.listen((e) => onSyncEvent(e.payload)).then((stop) => unlisten.push(stop));
    events.shortcutUsed.listen((e) => onShortcut(e.payload)).then((stop) => unlisten.push(stop));
    // Grabbed just after the window opens: Settings lists them without a jump when it opens.
    events.shortcutsReady
      .listen((e) => {
        if (info.value) info.value = { ...info.value, shortcuts: e.payload };
      })
      .then((stop) => unlisten.push(stop));
    (async () => {
      try {
        const app = await call(commands.appInfo());
        info.value = app;
        setCutShort(app.interrupted);
        if (app.first_run) route.value = { name: "first-run" };
        active.value = await call(commands.recordingStatus());
        if (app.organisation) account.value = await call(commands.accountStatus());
      } catch (err) {
        toast.value = messageOf(err);
      }
    })();
    // Quietly, a while after start and then daily: a newer version shows in the bar. A copy
    // without a release feed, or no network, says so only when asked in Settings.
    const checkQuietly = () =>
      call(commands.checkForUpdates()).then(
        (found) => (update.value = found),
        () => {},
      );
    const first = setTimeout(checkQuietly, UPDATE_CHECK_AFTER_MS);
    const daily = setInterval(checkQuietly, UPDATE_CHECK_EVERY_MS);
    return () => {
      unlisten.forEach((stop) => stop());
      clearTimeout(first);
      clearInterval(daily);
    };
  }, []);

  const current = route.value;
  const recording = active.value !== null;
  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      {current.name !== "first-run" && (
        <header class="bar">
          <span class="brand" aria-hidden="true">Hark</span>
          <nav aria-label="Main">
            <button id="nav-record" class="tab" aria-current={current.name === "record" ? "page" : undefined} onClick={() => (route.value = { name: "record" })}>
              {recording ? (paused.value ? "Paused" : "● Recording") : "Record"}
            </button>
            <button id="nav-library" class="tab" aria-current={current.name === "library" || current.name === "session" ? "page" : undefined} onClick={() => (route.value = { name: "library" })}>
              Library
            </button>
            <button id="nav-settings" class="tab" aria-current={current.name === "settings" ? "page" : undefined} onClick={() => (route.value = { name: "settings" })}>
              Settings
            </button>
          </nav>
          {update.value?.available && (
            <button id="update-notice" class="tab update-notice" onClick={() => (route.value = { name: "settings", focus: "updates" })}>
              Hark {update.value.available.version} is available
            </button>
          )}
          {info.value?.organisation ? (
            <button id="nav-account" class="tab mode" aria-current={current.name === "account" ? "page" : undefined} onClick={() => (route.value = { name: "account" })}>
              {account.value?.signed_in ? account.value.email ?? "Signed in" : "Sign in"}
            </button>
          ) : (
            <span class="mode" title={info.value?.data_dir}>
              On this computer
            </span>
          )}
        </header>
      )}
      {cutShort.map((cut) => (
        <p class="banner warning interrupted" role="alert" key={cut.session_id} data-session={cut.session_id}>
          The recording of “{cut.job_title}” was cut short when Hark stopped unexpectedly. {clock((cut.seconds ?? 0) * 1000)} of audio and the
          transcript up to then were kept{cut.audio_problem ? `, but its audio file could not be repaired: ${cut.audio_problem}` : ""}.{" "}
          <button
            class="link open-interrupted"
            onClick={() => {
              setCutShort((all) => all.filter((c) => c !== cut));
              route.value = { name: "session", id: cut.session_id };
            }}
          >
            Open it
          </button>{" "}
          <button class="link" aria-label="Dismiss" onClick={() => setCutShort((all) => all.filter((c) => c !== cut))}>
            Dismiss
          </button>
        </p>
      ))}
      {info.value?.config_error && (
        <p class="banner warning" role="alert" id="config-error">
          Your settings cannot be used, so Hark is keeping everything on this computer in its standard folder until they are
          fixed: {info.value.config_error}
        </p>
      )}
      <main id="main" tabIndex={-1}>
        {info.value === null && <p class="empty">Starting…</p>}
        {info.value !== null && current.name === "first-run" && <FirstRun />}
        {info.value !== null && current.name === "record" && <Record />}
        {current.name === "library" && <Library />}
        {current.name === "account" && <AccountView />}
        {current.name === "settings" && <Settings />}
        {current.name === "session" && <SessionView id={current.id} found={current.segment} />}
      </main>
      <CloseGuard />
      <LinkDialog />
      {toast.value && (
        <div class="toast" role="alert">
          <span>{toast.value}</span>
          <button onClick={() => (toast.value = null)} aria-label="Dismiss">×</button>
        </div>
      )}
    </div>
  );
}
