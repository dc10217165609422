// Settings: the recruiter's preferences (devices, language, vocabulary, theme, saved in the
// settings file the CLI reads too), the account, about this copy of Hark (version, folders) and
// a diagnostics report to copy for support (no keys or tokens in it), and updates: check the
// release feed, then install (verified against the release key) and restart.
import { Fragment } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { DeviceInfo, Preferences, ShortcutInfo, Theme, UpdateCheck } from "../bindings.gen";
import { call, commands, events, messageOf } from "../api";
import { acceleratorOf } from "../format";
import { account, info, keysLabel, notify, route, toast, update } from "../state";

/** Languages offered for the transcription hint (ISO-639-1); any other code works in the file. */
export const LANGUAGES: [string, string][] = [
  ["en", "English"],
  ["de", "German"],
  ["fr", "French"],
  ["es", "Spanish"],
  ["it", "Italian"],
  ["nl", "Dutch"],
  ["pt", "Portuguese"],
  ["pl", "Polish"],
  ["sv", "Swedish"],
  ["da", "Danish"],
  ["fi", "Finnish"],
  ["no", "Norwegian"],
  ["cs", "Czech"],
  ["tr", "Turkish"],
  ["uk", "Ukrainian"],
  ["ar", "Arabic"],
  ["hi", "Hindi"],
  ["ja", "Japanese"],
  ["ko", "Korean"],
  ["zh", "Chinese"],
];

const THEMES: [Theme, string][] = [
  ["system", "As the system"],
  ["light", "Light"],
  ["dark", "Dark"],
];

function PreferencesForm() {
  const saved = info.value?.preferences;
  const [devices, setDevices] = useState<DeviceInfo[]>([]);
  const [draft, setDraft] = useState<Preferences>({ microphone: null, system_audio: null, language: null, prompt: null, theme: null, record_shortcut: null, bookmark_shortcut: null, ...saved });
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    call(commands.listDevices()).then(setDevices, (err) => (toast.value = messageOf(err)));
  }, []);

  /** Saves `next`; the form shows what was saved (trimmed, defaults blank) unless only the theme changed. */
  const save = async (next: Preferences, message: string, form: boolean) => {
    setBusy(true);
    try {
      const app = await call(commands.savePreferences(next));
      info.value = app;
      if (form) setDraft(app.preferences);
      notify(message);
    } catch (err) {
      toast.value = messageOf(err);
    } finally {
      setBusy(false);
    }
  };
  const set = (change: Partial<Preferences>) => setDraft({ ...draft, ...change });
  const orNull = (value: string) => (value === "" ? null : value);
  // Devices that are saved but not connected now stay selectable, so saving keeps them.
  const listed = (kind: string, id: string | null) => {
    const own = devices.filter((d) => d.kind === kind);
    return id && !own.some((d) => d.id === id) ? [...own, { id, name: `${id} (not connected)` }] : own;
  };

  return (
    <>
      <form
        class="preferences"
        aria-labelledby="preferences-title"
        onSubmit={(e) => {
          e.preventDefault();
          save({ ...draft, theme: saved?.theme ?? null }, "Preferences saved: new recordings use them.", true);
        }}
      >
        <h2 id="preferences-title">Recording</h2>
        <label for="pref-microphone">Microphone</label>
        <select id="pref-microphone" value={draft.microphone ?? ""} onChange={(e) => set({ microphone: orNull(e.currentTarget.value) })}>
          <option value="">System default</option>
          {listed("microphone", draft.microphone).map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
        <label for="pref-system-audio">System audio (the candidate on a call)</label>
        <select id="pref-system-audio" value={draft.system_audio ?? ""} onChange={(e) => set({ system_audio: orNull(e.currentTarget.value) })}>
          <option value="">Don't record system audio</option>
          <option value="default">System default output</option>
          {listed("system", draft.system_audio === "default" ? null : draft.system_audio).map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
        <label for="pref-language">Language spoken</label>
        <select id="pref-language" value={draft.language ?? ""} onChange={(e) => set({ language: orNull(e.currentTarget.value) })}>
          <option value="">Detect automatically</option>
          {LANGUAGES.map(([code, name]) => (
            <option key={code} value={code}>
              {name}
            </option>
          ))}
          {draft.language && !LANGUAGES.some(([code]) => code === draft.language) && <option value={draft.language}>{draft.language}</option>}
        </select>
        <label for="pref-prompt">Words to expect</label>
        <textarea
          id="pref-prompt"
          rows={3}
          maxLength={1000}
          placeholder="Names, products and terms, e.g. Kubernetes, Terraform, Ada Lovelace"
          value={draft.prompt ?? ""}
          onInput={(e) => set({ prompt: orNull(e.currentTarget.value) })}
        />
        <button id="save-preferences" type="submit" disabled={busy}>
          Save
        </button>
      </form>

      <fieldset class="theme">
        <legend>Theme</legend>
        {THEMES.map(([theme, label]) => (
          <label class="check" key={theme}>
            <input
              type="radio"
              name="theme"
              id={`theme-${theme}`}
              checked={(saved?.theme ?? "system") === theme}
              disabled={busy}
              onChange={() => save({ ...(saved ?? draft), theme }, `Theme: ${label.toLowerCase()}.`, false)}
            />
            {label}
          </label>
        ))}
      </fieldset>
    </>
  );
}

const ACTIONS = { record: "Start, or stop and save, the recording", bookmark: "Bookmark this moment of the recording" };

/** The global shortcuts, with the reason one does not work; each can be changed by pressing
 * the new keys. */
function Shortcuts({ shortcuts }: { shortcuts: ShortcutInfo[] }) {
  const [changing, setChanging] = useState<ShortcutInfo["action"] | null>(null);
  const keysOf = (action: ShortcutInfo["action"]) => shortcuts.find((s) => s.action === action)?.keys ?? "";

  const save = async (action: ShortcutInfo["action"], keys: string) => {
    setChanging(null);
    try {
      const record = action === "record" ? keys : keysOf("record");
      const bookmark = action === "bookmark" ? keys : keysOf("bookmark");
      const app = await call(commands.saveShortcuts(record, bookmark));
      info.value = app;
      const now = app.shortcuts.find((s) => s.action === action);
      if (now?.problem) toast.value = `${keysLabel(keys)} is saved but does not work: ${now.problem}`;
      else notify(`Shortcut saved: ${keysLabel(keys)}.`);
    } catch (err) {
      toast.value = messageOf(err);
    }
  };

  return (
    <>
      <h2>Shortcuts</h2>
      <p>They work while another app, such as the video call, has the focus.</p>
      {/* Grabbed a moment after the window opens (see `lib.rs`); until then there is no list. */}
      {shortcuts.length === 0 && (
        <p class="meta" id="shortcuts-pending" aria-busy="true">
          Setting up the shortcuts…
        </p>
      )}
      <dl class="about" id="shortcuts">
        {shortcuts.map((s) => (
          <Fragment key={s.action}>
            <dt>
              {changing === s.action ? (
                <input
                  id={`shortcut-keys-${s.action}`}
                  class="capture"
                  aria-label={`New keys for: ${ACTIONS[s.action]}. Press them now; Escape cancels.`}
                  placeholder="Press the keys…"
                  readOnly
                  ref={(input) => input?.focus()}
                  onBlur={() => setChanging(null)}
                  onKeyDown={(e) => {
                    e.preventDefault();
                    if (e.key === "Escape") return setChanging(null);
                    const keys = acceleratorOf(e);
                    if (keys !== null) save(s.action, keys);
                  }}
                />
              ) : (
                <kbd>{keysLabel(s.keys)}</kbd>
              )}
            </dt>
            <dd data-action={s.action}>
              {ACTIONS[s.action]}
              {s.problem && <span class="problem"> — {s.problem}</span>}{" "}
              <button class="link" id={`change-shortcut-${s.action}`} onClick={() => setChanging(s.action)}>
                Change
              </button>
            </dd>
          </Fragment>
        ))}
      </dl>
    </>
  );
}

/** The data folder, and moving it: a typed or chosen folder, copied to and restarted from. */
function DataFolder({ folder }: { folder: string }) {
  const [target, setTarget] = useState<string | null>(null);
  const [moving, setMoving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  // While moving, the window is held: a change made meanwhile would stay in the old folder.
  // A layout effect: the modal opens in the same frame as "Moving…", never a frame later.
  const hold = useRef<HTMLDialogElement>(null);
  useLayoutEffect(() => {
    if (moving) hold.current?.showModal();
    else if (hold.current?.open) {
      hold.current.close();
      // Closing gives the focus back to the button: the reason below it stays in view.
      document.getElementById("move-problem")?.scrollIntoView({ block: "nearest" });
    }
  }, [moving]);

  const choose = async () => {
    try {
      const picked = await call(commands.chooseDataFolder());
      if (picked) setTarget(picked);
    } catch (err) {
      setProblem(messageOf(err));
    }
  };

  const move = async () => {
    if (!target?.trim()) return setProblem("type or choose the new folder first");
    setMoving(true);
    setProblem(null);
    try {
      // Hark restarts from the new folder once everything is copied.
      await call(commands.moveDataFolder(target.trim()));
    } catch (err) {
      setProblem(messageOf(err));
      setMoving(false);
    }
  };

  return (
    <>
      <dt>Sessions and recordings</dt>
      <dd>
        <code id="data-folder">{folder}</code>{" "}
        {target === null && (
          <button class="link" id="move-data-open" onClick={() => setTarget("")}>
            Move…
          </button>
        )}
        <dialog ref={hold} id="moving-data" aria-labelledby="moving-data-title" onCancel={(e) => e.preventDefault()}>
          <h2 id="moving-data-title">Moving your sessions</h2>
          <p>
            Copying everything to <code>{target?.trim()}</code> and checking the copy. Hark restarts from there when it is done; recording is
            not possible until then.
          </p>
        </dialog>
        {target !== null && (
          <form
            class="move-data"
            onSubmit={(e) => {
              e.preventDefault();
              move();
            }}
          >
            <label for="move-to">New folder (empty or new)</label>
            <div class="row">
              <input id="move-to" value={target} disabled={moving} placeholder="/home/you/Interviews" onInput={(e) => setTarget(e.currentTarget.value)} ref={(input) => input?.focus()} />
              <button type="button" id="choose-folder" disabled={moving} onClick={choose}>
                Choose…
              </button>
            </div>
            <small>Hark copies the sessions, recordings and logs there, checks the copy and restarts from it; the old folder is emptied then. Not while recording.</small>
            <div class="row">
              <button type="submit" id="move-data" disabled={moving}>
                {moving ? "Moving…" : "Move and restart"}
              </button>
              <button type="button" id="move-cancel" disabled={moving} onClick={() => (setTarget(null), setProblem(null))}>
                Cancel
              </button>
            </div>
            {problem && (
              <p class="problem" id="move-problem" role="alert" ref={(shown) => shown?.scrollIntoView({ block: "nearest" })}>
                {problem}
              </p>
            )}
          </form>
        )}
      </dd>
    </>
  );
}

/** Where checking for and installing an update has got to. */
type UpdateState =
  | { step: "idle" }
  | { step: "checking" }
  | { step: "checked"; check: UpdateCheck }
  | { step: "installing"; version: string; percent: number | null }
  | { step: "failed"; message: string; check: UpdateCheck | null };

/** Check for updates; a newer version shows its notes and installs (then Hark restarts). */
function Updates() {
  const [current, setState] = useState<UpdateState>({ step: "idle" });
  const heading = useRef<HTMLElement>(null);
  // Opened from the bar's "is available": shown, not left below the fold (before the first
  // paint, so the page never shows its top first).
  useLayoutEffect(() => {
    const asked = route.value;
    if (asked.name === "settings" && asked.focus === "updates") heading.current?.scrollIntoView({ block: "center" });
  }, []);

  useEffect(() => {
    const unlisten = events.updateProgress.listen(({ payload }) =>
      setState((now) =>
        now.step === "installing"
          ? { ...now, percent: payload.total ? Math.min(100, Math.round((payload.received / payload.total) * 100)) : null }
          : now,
      ),
    );
    return () => {
      unlisten.then((stop) => stop());
    };
  }, []);

  const check = async () => {
    setState({ step: "checking" });
    try {
      const found = await call(commands.checkForUpdates());
      update.value = found;
      setState({ step: "checked", check: found });
    } catch (err) {
      setState({ step: "failed", message: messageOf(err), check: null });
    }
  };

  const install = async (check: UpdateCheck, version: string) => {
    setState({ step: "installing", version, percent: 0 });
    try {
      // Hark restarts into the new version once it is installed.
      await call(commands.installUpdate());
    } catch (err) {
      setState({ step: "failed", message: messageOf(err), check });
    }
  };

  // What the quiet check after start found, until the recruiter checks here.
  const state: UpdateState = current.step === "idle" && update.value ? { step: "checked", check: update.value } : current;
  const available = state.step === "checked" ? state.check.available : null;
  return (
    <>
      <dt ref={heading}>Updates</dt>
      <dd>
        <p id="update-status" role="status">
          {state.step === "checking" && "Asking for a newer version…"}
          {state.step === "checked" &&
            (available ? `Hark ${available.version} is available (you have ${state.check.current}).` : `Hark ${state.check.current} is the newest version.`)}
          {state.step === "installing" &&
            `Downloading Hark ${state.version}${state.percent === null ? "…" : ` (${state.percent} %)`}; Hark restarts when it is installed.`}
          {state.step === "failed" && <span class="problem">{state.message}</span>}
        </p>
        {available?.notes && <p id="update-notes" class="update-notes">{available.notes}</p>}
        {available && state.step === "checked" ? (
          <button id="install-update" onClick={() => install(state.check, available.version)}>
            Install and restart
          </button>
        ) : (
          <button id="check-updates" disabled={state.step === "checking" || state.step === "installing"} onClick={check}>
            Check for updates
          </button>
        )}
      </dd>
    </>
  );
}

export function Settings() {
  const [report, setReport] = useState<string | null>(null);
  const app = info.value;
  // The shortcuts are registered after the window opens: take their state now (only theirs, so
  // preferences saved meanwhile are not overwritten).
  useEffect(() => {
    call(commands.appInfo()).then(
      (fresh) => {
        if (info.value) info.value = { ...info.value, shortcuts: fresh.shortcuts };
      },
      (err) => (toast.value = messageOf(err)),
    );
  }, []);

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
      {app && <PreferencesForm />}
      {app && <Shortcuts shortcuts={app.shortcuts} />}
      {app?.organisation && (
        <>
          <h2>Account</h2>
          <p>
            {account.value?.signed_in ? `Signed in as ${account.value.email ?? "you"}.` : "Not signed in."}{" "}
            <button class="link" id="settings-account" onClick={() => (route.value = { name: "account" })}>
              {account.value?.signed_in ? "Sync and sign out" : "Sign in"}
            </button>
          </p>
        </>
      )}
      <h2>About</h2>
      <dl class="about">
        <dt>Version</dt>
        <dd id="about-version">{app?.version}</dd>
        <Updates />
        {app && <DataFolder folder={app.data_dir} />}
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
