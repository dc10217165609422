// Asked when the window is closed while recording: keep recording, or stop (the recording is
// saved and its last transcripts stored) and then close. A close that comes while Stop is
// already saving asks nothing: the window closes once the save is done.
import { getCurrentWindow } from "@tauri-apps/api/window";
import { useEffect, useRef, useState } from "preact/hooks";
import { call, commands, events, reasonOf } from "../api";
import { active, stopping, toast } from "../state";

export function CloseGuard() {
  const dialog = useRef<HTMLDialogElement>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    let unlisten: (() => void) | undefined;
    const closeAfterSaving = () => {
      const done = stopping.subscribe((saving) => {
        if (saving) return;
        // Subscribed callbacks run once at once: unsubscribe on the next tick.
        setTimeout(() => done());
        if (!active.value) getCurrentWindow().destroy();
      });
    };
    events.closeRequested
      .listen(() => (stopping.value ? closeAfterSaving() : dialog.current?.showModal()))
      .then((stop) => (unlisten = stop));
    return () => unlisten?.();
  }, []);

  const stopAndClose = async () => {
    setSaving(true);
    try {
      await call(commands.stopRecording());
      active.value = null;
      await getCurrentWindow().destroy();
    } catch (err) {
      dialog.current?.close();
      toast.value = `The recording was not stopped: ${reasonOf(err)}`;
    } finally {
      setSaving(false);
    }
  };

  return (
    <dialog ref={dialog} id="close-guard" aria-labelledby="close-guard-title">
      <h2 id="close-guard-title">A recording is running</h2>
      <p>Closing Hark stops it. Everything recorded so far is saved with its transcript.</p>
      <div class="row">
        <button id="keep-recording" autofocus onClick={() => dialog.current?.close()} disabled={saving}>
          Keep recording
        </button>
        <button id="stop-and-close" class="primary" onClick={stopAndClose} disabled={saving}>
          {saving ? "Saving…" : "Stop, save and close"}
        </button>
      </div>
    </dialog>
  );
}
