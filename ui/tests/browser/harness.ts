// The UI in a plain browser with Tauri's IPC mocked: an in-memory backend answering the
// generated commands, and `window.harness` for the flow tests to push recorder events and read
// the calls the UI made. Only the flow tests load this page.
import { emit } from "@tauri-apps/api/event";
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import type { AccountStatus, Active, AppInfo, Consent, DeviceInfo, LevelsEvent, OpenedLink, PlaybackStatus, Preferences, RecorderEvent, Segment, SessionDetail, SessionSummary, ShortcutUsed, SyncEvent } from "../../src/bindings.gen";

interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

const calls: Call[] = [];
const failures = new Map<string, { kind: string; message: string }>();
let info: AppInfo = {
  version: "0.1.0",
  first_run: true,
  organisation: false,
  proxy_url: "http://127.0.0.1:9/v1",
  data_dir: "/home/test/.local/share/hark",
  config_file: "/home/test/.config/hark/config.toml",
  config_error: null,
  preferences: { microphone: null, system_audio: null, language: null, prompt: null, theme: null, record_shortcut: null, bookmark_shortcut: null },
  shortcuts: [
    { keys: "CommandOrControl+Alt+R", action: "record", problem: null },
    { keys: "CommandOrControl+Alt+B", action: "bookmark", problem: "not available (already registered): another app may be using it" },
  ],
  interrupted: [],
};
const devices: DeviceInfo[] = [
  { id: "pulse:virtual_mic", name: "Virtual Mic", kind: "microphone", is_default: true, default_format: null, formats: [] },
  { id: "pulse:speakers.monitor", name: "Monitor of Speakers", kind: "system", is_default: true, default_format: null, formats: [] },
];
// `?org` starts the harness with an organisation configured and nobody signed in.
const organisation = new URLSearchParams(location.search).has("org");
info = { ...info, organisation };
// `?shortcuts-later` starts before the shell has grabbed the shortcuts (`harness.shortcutsReady`).
const grabbed = info.shortcuts;
if (new URLSearchParams(location.search).has("shortcuts-later")) info = { ...info, shortcuts: [] };
let account: AccountStatus = { project_url: "https://org.supabase.co", signed_in: false, email: null, organisations: [], problem: null };
const signedIn = (email: string): AccountStatus => ({
  ...account,
  signed_in: true,
  email,
  organisations: [{ org_id: "org-1", org_name: "Acme Hiring", role: "recruiter" }],
});
let active: Active | null = null;
let segments: Segment[] = [];
let consent: Consent | null = null;
const sessions: SessionDetail[] = [];
let stopHeld: { promise: Promise<void>; release: () => void } | null = null;
// Completes a waiting email-link sign-in, as opening the emailed link does.
let linkOpened: (() => void) | null = null;
/** Settles the pending `install_update`. */
let installing: ((error: { kind: string; message: string } | null) => void) | null = null;
// The last `hark://` link opened, until the UI takes it.
let link: OpenedLink | null = null;
// The one session played back: the position moves only when a test says so.
let playback: (PlaybackStatus & { session: string }) | null = null;

const LOCAL_ONLY = "recorded on this computer only; it goes to an organisation only if you send it";

// `?recorded-local` (with `?org`) starts with a session recorded before the organisation was
// connected: the shell holds it back until the recruiter sends it.
if (new URLSearchParams(location.search).has("recorded-local")) {
  const started = Date.now() - 86_400_000;
  sessions.push({
    session: { id: "session-local", interview_id: "interview-local", sources: ["microphone"], model: null, language: null, started_at_ms: started, ended_at_ms: started + 300_000, seconds_recorded: 300, recording_path: "/home/test/.local/share/hark/recordings/session-local.ogg", state: "completed", consent: null, destination: { kind: "local_only" } },
    interview: { id: "interview-local", org_id: null, candidate_id: null, candidate_name: "Grace Hopper", job_title: "Data analyst", created_at_ms: started, in_cloud: false },
    // Recorded with no transcription service: no transcript yet.
    segments: [],
    notes: [],
    sync_state: "pending",
    held: LOCAL_ONLY,
  });
  info = { ...info, first_run: false };
}

function summary(detail: SessionDetail): SessionSummary {
  return {
    session: detail.session,
    job_title: detail.interview.job_title,
    candidate_name: detail.interview.candidate_name,
    segments: detail.segments.length,
    sync_state: detail.sync_state,
    sync_error: null,
    held: detail.held,
  };
}

// `?crashed` starts after a crash cut a recording short: the shell found it at start.
if (new URLSearchParams(location.search).has("crashed")) {
  const started = Date.now() - 3_600_000;
  sessions.push({
    session: { id: "session-crashed", interview_id: "interview-crashed", sources: ["microphone"], model: null, language: null, started_at_ms: started, ended_at_ms: started + 754_000, seconds_recorded: 754.4, recording_path: "/home/test/.local/share/hark/recordings/session-crashed.ogg", state: "interrupted", consent: null, destination: { kind: "local_only" } },
    interview: { id: "interview-crashed", org_id: null, candidate_id: null, candidate_name: "Ada Lovelace", job_title: "Backend engineer", created_at_ms: started, in_cloud: false },
    segments: [],
    notes: [],
    sync_state: null,
    held: null,
  });
  info = { ...info, first_run: false, interrupted: [{ session_id: "session-crashed", job_title: "Backend engineer", seconds: 754.4, audio_problem: null }] };
}

function answer(cmd: string, args: Record<string, unknown>): unknown {
  switch (cmd) {
    case "app_info":
      return info;
    case "take_link": {
      const taken = link;
      link = null;
      return taken;
    }
    case "connect_organisation":
      // The shell saves the settings and restarts; the flow tests only see the call.
      return null;
    case "finish_first_run":
      info = { ...info, first_run: false };
      return info;
    case "save_preferences": {
      // As the shell saves them: blanks and defaults dropped (its validation is tested in Rust).
      const given = args.preferences as Preferences;
      const kept = (value: string | null, dflt: string) => (value && value.trim() !== dflt ? value.trim() : null);
      info = {
        ...info,
        preferences: {
          microphone: kept(given.microphone, "default"),
          system_audio: kept(given.system_audio, "none"),
          language: kept(given.language, ""),
          prompt: kept(given.prompt, ""),
          theme: given.theme === "system" ? null : given.theme,
          record_shortcut: kept(given.record_shortcut, ""),
          bookmark_shortcut: kept(given.bookmark_shortcut, ""),
        },
      };
      return info;
    }
    case "save_shortcuts": {
      // As the shell checks and grabs them (its checks are tested in Rust).
      const [record, bookmark] = [args.record as string, args.bookmark as string];
      if (record === bookmark) throw { kind: "invalid", message: "the two shortcuts are the same keys; give each its own" };
      info = {
        ...info,
        preferences: { ...info.preferences, record_shortcut: record, bookmark_shortcut: bookmark },
        shortcuts: info.shortcuts.map((s) => {
          const keys = s.action === "record" ? record : bookmark;
          return keys === s.keys ? s : { ...s, keys, problem: null };
        }),
      };
      return info;
    }
    case "list_devices":
      return devices;
    case "list_interviews":
      return sessions.map((s) => s.interview);
    case "recording_status":
      // The recorder's position advances with wall time here (no pauses in the harness).
      return active && { ...active, position_ms: Date.now() - active.started_at_ms };
    case "start_recording": {
      const request = args.request as { interview: string; consent_confirmed_at_ms: number };
      const started = Date.now();
      active = {
        session_id: `session-${sessions.length + 1}`,
        interview: { id: `interview-${sessions.length + 1}`, org_id: null, candidate_id: null, candidate_name: null, job_title: request.interview, created_at_ms: started, in_cloud: false },
        sources: ["microphone"],
        started_at_ms: started,
        position_ms: 0,
        paused: false,
      };
      segments = [];
      consent = { by: null, at_ms: request.consent_confirmed_at_ms };
      return active;
    }
    case "show_levels":
      return null;
    case "pause_recording":
      if (!active) throw { kind: "invalid", message: "nothing is being recorded: press Record first" };
      active = { ...active, paused: args.paused as boolean };
      return { ...active, position_ms: Date.now() - active.started_at_ms };
    case "add_note":
      return { id: "note-1", session_id: active?.session_id, kind: args.kind, at_ms: 1000, body: args.body };
    case "stop_recording": {
      if (!active) throw { kind: "invalid", message: "nothing is being recorded: press Record first" };
      // Saving takes as long as the test says (window.harness.holdStop / releaseStop).
      if (stopHeld) return stopHeld.promise.then(() => answer(cmd, args));
      const detail: SessionDetail = {
        session: { id: active.session_id, interview_id: active.interview.id, sources: active.sources, model: null, language: null, started_at_ms: active.started_at_ms, ended_at_ms: Date.now(), seconds_recorded: 12.5, recording_path: `/home/test/.local/share/hark/recordings/${active.session_id}.ogg`, state: "completed", consent: consent, destination: organisation ? { kind: "organisation", project_url: account.project_url, user_id: account.signed_in ? "user-1" : null, email: account.email } : { kind: "local_only" } },
        interview: active.interview,
        segments,
        notes: [],
        sync_state: "pending",
        held: organisation ? null : LOCAL_ONLY,
      };
      sessions.unshift(detail);
      active = null;
      const gaps = segments.filter((s) => s.status === "failed");
      const missed_ms = gaps.reduce((sum, s) => sum + s.end_ms - s.start_ms, 0);
      return { session_id: detail.session.id, seconds: 12.5, segments: segments.length - gaps.length, missed_ms, recording: null };
    }
    case "list_sessions":
      return sessions.map(summary);
    case "search_transcripts": {
      const query = (args.query as string).toLowerCase();
      return sessions.flatMap((s) =>
        s.segments
          .filter((seg) => seg.text.toLowerCase().includes(query))
          .map((seg) => ({ session_id: s.session.id, segment_id: seg.id, job_title: s.interview.job_title, start_ms: seg.start_ms, snippet: seg.text.replace(new RegExp(query, "i"), (m) => `[${m}]`) })),
      );
    }
    case "session_detail": {
      const found = sessions.find((s) => s.session.id === args.id);
      if (!found) throw { kind: "store", message: `no session ${args.id}` };
      return found;
    }
    case "export_session": {
      const found = sessions.find((s) => s.session.id === args.id)!;
      return `# ${found.interview.job_title}\n\n${found.segments.map((s) => `**You** ${s.text}`).join("\n\n")}\n`;
    }
    case "play_recording": {
      const session = args.sessionId as string;
      const from = args.fromMs as number | null;
      const position = from ?? (playback?.session === session ? playback.position_ms : 0);
      playback = { session, position_ms: position, duration_ms: 12_500, playing: true, problem: null };
      const { session: _, ...status } = playback;
      return status;
    }
    case "pause_playback":
    case "playback_status": {
      if (playback === null || playback.session !== args.sessionId) return null;
      if (cmd === "pause_playback") playback.playing = false;
      const { session: _, ...status } = playback;
      return status;
    }
    case "save_export": {
      // As if the recruiter picked a file in the save dialog.
      const found = sessions.find((s) => s.session.id === args.id)!;
      return `/home/test/Documents/${found.interview.job_title}.${args.format}`;
    }
    case "edit_segment": {
      const text = (args.text as string).trim();
      if (text === "") throw { kind: "store", message: "text: a segment cannot be emptied; leave at least a word" };
      for (const session of sessions) {
        const segment = session.segments.find((seg) => seg.id === args.segmentId);
        if (segment) {
          segment.text = text;
          return segment;
        }
      }
      throw { kind: "store", message: `no segment ${args.segmentId}` };
    }
    case "rename_speaker": {
      const session = sessions.find((s) => s.session.id === args.sessionId)!;
      const changed = session.segments.filter((seg) => seg.source === args.source);
      changed.forEach((seg) => (seg.speaker_label = args.label as string | null));
      return changed.length;
    }
    case "share_session": {
      if (!account.signed_in) throw { kind: "cloud", message: "not signed in: sign in to your organisation first" };
      const found = sessions.find((s) => s.session.id === args.sessionId)!;
      found.session = { ...found.session, destination: { kind: "organisation", project_url: account.project_url, user_id: "user-1", email: account.email } };
      found.held = null;
      found.sync_state = "pending";
      return null;
    }
    case "delete_session": {
      const at = sessions.findIndex((s) => s.session.id === args.sessionId);
      sessions.splice(at, 1);
      return null;
    }
    case "account_status":
      return organisation ? account : null;
    case "sign_in_password":
      if (args.password !== "right password") throw { kind: "cloud", message: "the email or password is wrong: check both, or sign in with an email code" };
      account = signedIn(args.email as string);
      return account;
    case "send_email_code":
      return null;
    case "verify_email_code":
      if (args.code !== "123456") throw { kind: "cloud", message: "that code is wrong or expired: ask for a new one" };
      account = signedIn(args.email as string);
      return account;
    case "sign_in_email_link":
      // Resolved when the test "opens" the link (window.harness.openEmailLink).
      return new Promise((resolve) => {
        linkOpened = () => {
          account = signedIn(args.email as string);
          resolve(account);
        };
      });
    case "sign_out":
      account = { ...account, signed_in: false, email: null, organisations: [] };
      return account;
    case "sync_now":
      return 1;
    case "choose_data_folder":
      return "/home/test/Interviews";
    case "move_data_folder": {
      // As the recorder checks the folder (its checks are tested in Rust); Hark then restarts.
      const folder = args.folder as string;
      if (folder.startsWith("/home/test/busy")) throw { kind: "invalid", message: `${folder} is not empty: choose an empty or new folder` };
      return { to: folder, files: 3, bytes: 1200, recordings: 1 };
    }
    case "check_for_updates":
      return { current: info.version, available: { version: "0.2.0", notes: "Bookmarks in exports.\nFaster start.", published: "2026-11-20T09:00:00Z" } };
    case "install_update":
      // Ends when the test says how the install went (window.harness.finishInstall).
      return new Promise((resolve, reject) => {
        installing = (error) => (error ? reject(error) : resolve("0.2.0"));
      });
    case "diagnostics":
      return `Hark ${info.version} on linux x86_64\nsettings: ${info.config_file}\n--- last log lines ---\n`;
    case "plugin:window|destroy":
      return null;
    default:
      throw { kind: "invalid", message: `the harness does not know ${cmd}` };
  }
}

mockWindows("main");
mockIPC(
  (cmd, payload) => {
    const args = (payload ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    const failure = failures.get(cmd);
    if (failure) throw failure;
    // Answers cross the IPC as JSON: the UI never gets the harness's own objects.
    const result = answer(cmd, args);
    // A command that waits (a sign-in link not yet opened) answers later.
    return result instanceof Promise ? result.then((value) => structuredClone(value)) : structuredClone(result);
  },
  { shouldMockEvents: true },
);

declare global {
  interface Window {
    harness: {
      calls: Call[];
      /** Sends a recorder event as the shell would. */
      emit(event: RecorderEvent): Promise<void>;
      /** Sends the meters' levels as the shell would. */
      levels(event: LevelsEvent): Promise<void>;
      /** Sends a sync status change as the shell would. */
      sync(event: SyncEvent): Promise<void>;
      /** A global shortcut, as the shell reports it. */
      shortcut(used: ShortcutUsed): Promise<void>;
      /** The shell has grabbed the global shortcuts, a moment after the window opened. */
      shortcutsReady(): Promise<void>;
      /** The shell's "window asked to close while recording". */
      closeRequested(): Promise<void>;
      /** The recruiter opens the emailed sign-in link. */
      openEmailLink(): void;
      /** A `hark://` link the operating system opened, as the shell announces it. */
      openLink(opened: OpenedLink): Promise<void>;
      /** Moves playback to `ms`, as the player's clock would. */
      playbackAt(ms: number): void;
      /** Download progress of an update, as the shell reports it. */
      updateProgress(received: number, total: number | null): Promise<void>;
      /** Ends the update install the UI asked for: installed (Hark would restart), or failed. */
      finishInstall(error: { kind: string; message: string } | null): void;
      /** Back-fill replaced a stored session's gaps with `filled`; the shell announces it. */
      backfill(sessionId: string, filled: Segment[]): Promise<void>;
      /** Makes the next stops wait (saving) until `releaseStop`. */
      holdStop(): void;
      /** Lets held stops finish. */
      releaseStop(): void;
      /** Makes `cmd` fail with this UI error until cleared with `null`. */
      fail(cmd: string, error: { kind: string; message: string } | null): void;
    };
  }
}

window.harness = {
  calls,
  async emit(event) {
    if (event.type === "final" || event.type === "failed") segments.push(event.segment);
    await emit("recording-event", event);
  },
  async levels(event) {
    await emit("levels-event", event);
  },
  async sync(event) {
    await emit("sync-status-event", event);
  },
  async shortcut(used) {
    await emit("shortcut-used", used);
  },
  async shortcutsReady() {
    info = { ...info, shortcuts: grabbed };
    await emit("shortcuts-ready", grabbed);
  },
  async closeRequested() {
    await emit("close-requested", null);
  },
  openEmailLink() {
    linkOpened?.();
  },
  async openLink(opened) {
    link = opened;
    await emit("link-opened", null);
  },
  playbackAt(ms) {
    if (playback) playback.position_ms = ms;
  },
  async updateProgress(received, total) {
    await emit("update-progress", { received, total });
  },
  finishInstall(error) {
    installing?.(error);
  },
  async backfill(sessionId, filled) {
    const detail = sessions.find((d) => d.session.id === sessionId);
    if (detail) detail.segments = [...detail.segments.filter((s) => s.status !== "failed"), ...filled].sort((a, b) => a.start_ms - b.start_ms);
    await emit("recording-event", { type: "backfilled", session_id: sessionId });
  },
  holdStop() {
    let release = () => {};
    const promise = new Promise<void>((resolve) => (release = resolve));
    stopHeld = { promise, release };
  },
  releaseStop() {
    stopHeld?.release();
    stopHeld = null;
  },
  fail(cmd, error) {
    if (error) failures.set(cmd, error);
    else failures.delete(cmd);
  },
};

await import("../../src/main");
