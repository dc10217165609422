// A `hark://connect` link an admin sent: the organisation's settings are shown and used only
// once the recruiter confirms; a link that cannot be used says why.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Link } from "../bindings.gen";
import { call, commands, events, messageOf } from "../api";
import { toast } from "../state";

export function LinkDialog() {
  const dialog = useRef<HTMLDialogElement>(null);
  const [link, setLink] = useState<Link | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const take = async () => {
      try {
        const opened = await call(commands.takeLink());
        if (opened === null) return;
        if (opened.problem !== null) toast.value = opened.problem;
        if (opened.link !== null) {
          setLink(opened.link);
          if (!dialog.current?.open) dialog.current?.showModal();
        }
      } catch (err) {
        toast.value = messageOf(err);
      }
    };
    let unlisten: (() => void) | undefined;
    events.linkOpened.listen(take).then((stop) => (unlisten = stop));
    // The link the app was started with.
    take();
    return () => unlisten?.();
  }, []);

  const connect = async () => {
    if (link === null) return;
    setBusy(true);
    try {
      // Hark restarts with the organisation's settings.
      await call(commands.connectOrganisation({ proxy_url: link.proxy_url ?? "", supabase_url: link.supabase_url, supabase_anon_key: link.supabase_anon_key }));
    } catch (err) {
      dialog.current?.close();
      toast.value = messageOf(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} id="link-dialog" aria-labelledby="link-dialog-title">
      <h2 id="link-dialog-title">Connect Hark to your organisation?</h2>
      <p>A link asks Hark to use these settings. Connect only if your admin sent it to you.</p>
      {link && (
        <dl class="link-settings">
          <dt>Transcription proxy</dt>
          <dd id="link-proxy">{link.proxy_url ?? "none (recordings without a live transcript)"}</dd>
          <dt>Organisation project</dt>
          <dd id="link-project">{link.supabase_url}</dd>
          <dt>Project key</dt>
          <dd id="link-key">{link.supabase_anon_key.length > 16 ? `${link.supabase_anon_key.slice(0, 16)}…` : link.supabase_anon_key}</dd>
        </dl>
      )}
      <p class="meta">Hark restarts to connect; a recording in progress has to be stopped first.</p>
      <div class="row">
        <button id="link-cancel" autofocus onClick={() => dialog.current?.close()} disabled={busy}>
          Not now
        </button>
        <button id="link-connect" class="primary" onClick={connect} disabled={busy}>
          {busy ? "Connecting…" : "Connect"}
        </button>
      </div>
    </dialog>
  );
}
