// The library: every session with candidate, date, duration and sync state; full-text search
// across transcripts with the matches highlighted.
import { useEffect, useState } from "preact/hooks";
import type { SearchHit, SessionSummary, SyncEvent } from "../bindings.gen";
import { call, commands, messageOf } from "../api";
import { clock, isHeld, snippetParts, when } from "../format";
import { account, route, syncStatus, toast } from "../state";

const SYNC_TEXT: Record<string, string> = {
  pending: "Waiting to sync",
  syncing: "Syncing",
  synced: "Synced",
  failed: "Sync failed",
};

/** The sync column: the live status from sync events when there is one, else the stored one. */
function syncText(row: SessionSummary, live: SyncEvent | undefined): { text: string; why: string | null } {
  if (live) {
    switch (live.state) {
      case "syncing":
        return { text: `Syncing ${live.sent}/${live.total}`, why: null };
      case "synced":
        return { text: "Synced", why: null };
      case "failed":
        return { text: live.retry_at_ms === null ? "Sync failed" : "Retrying", why: live.reason };
      case "pending":
        return { text: "Waiting to sync", why: null };
    }
  }
  if (row.sync_state === null) return { text: row.session.state === "recording" ? "Recording" : "On this computer", why: null };
  // Not this account's to send: recorded local-only, or for another organisation or recruiter.
  if (isHeld(row)) {
    return { text: row.session.destination.kind === "local_only" ? "On this computer only" : "Not sent from here", why: row.held };
  }
  return { text: SYNC_TEXT[row.sync_state] ?? row.sync_state, why: row.sync_error };
}

export function Library() {
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [filter, setFilter] = useState<"all" | "failed" | "pending" | "held">("all");

  useEffect(() => {
    call(commands.listSessions()).then(setSessions, (err) => (toast.value = messageOf(err)));
  }, []);

  useEffect(() => {
    const wanted = query.trim();
    if (wanted === "") {
      setHits(null);
      return;
    }
    const timer = setTimeout(() => {
      call(commands.searchTranscripts(wanted)).then(setHits, (err) => (toast.value = messageOf(err)));
    }, 150);
    return () => clearTimeout(timer);
  }, [query]);

  const open = (id: string, segment?: string) => (route.value = { name: "session", id, segment });
  const byId = new Map((sessions ?? []).map((row) => [row.session.id, row]));
  const heldCount = (sessions ?? []).filter(isHeld).length;
  const shown = (sessions ?? []).filter((row) => {
    const held = isHeld(row);
    if (filter === "all") return true;
    if (filter === "held") return held;
    return !held && row.sync_state === filter;
  });

  return (
    <section class="library" aria-labelledby="library-title">
      <div class="library-head">
        <h1 id="library-title">Library</h1>
        <input id="search" type="search" aria-label="Search transcripts" placeholder="Search every transcript" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <label class="filter">
          Show{" "}
          <select id="filter" value={filter} onChange={(e) => setFilter(e.currentTarget.value as typeof filter)}>
            <option value="all">All sessions</option>
            <option value="pending">Waiting to sync</option>
            <option value="failed">Sync failed</option>
            <option value="held">Not sent to the organisation</option>
          </select>
        </label>
      </div>
      {account.value?.signed_in && heldCount > 0 && filter !== "held" && (
        <p class="banner info row" id="held-notice">
          {heldCount === 1 ? "1 session is" : `${heldCount} sessions are`} not sent to your organisation: recorded on this computer only, or for another account. Open one to send it.{" "}
          <button class="link" id="show-held" onClick={() => setFilter("held")}>
            Show {heldCount === 1 ? "it" : "them"}
          </button>
        </p>
      )}
      {hits !== null ? (
        <ul class="hits" aria-label="Search results" id="search-results">
          {hits.length === 0 && <li class="empty">Nothing matches “{query.trim()}”.</li>}
          {hits.map((hit) => {
            const row = byId.get(hit.session_id);
            return (
              <li key={hit.segment_id}>
                <button class="hit" onClick={() => open(hit.session_id, hit.segment_id)}>
                  <span class="title">
                    {hit.job_title}
                    {row && (
                      <span class="meta">
                        {row.candidate_name ? `${row.candidate_name} · ` : ""}
                        {when(row.session.started_at_ms)}
                      </span>
                    )}
                  </span>
                  <time>{clock(hit.start_ms)}</time>
                  <span class="snippet">
                    {snippetParts(hit.snippet).map((part, i) => (part.hit ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      ) : sessions === null ? (
        <p aria-busy="true">Loading…</p>
      ) : shown.length === 0 ? (
        <p class="empty">{sessions.length === 0 ? "No sessions yet: record one." : "No session matches this filter."}</p>
      ) : (
        <table class="sessions" id="sessions">
          <thead>
            <tr>
              <th scope="col">Interview</th>
              <th scope="col">Candidate</th>
              <th scope="col">Date</th>
              <th scope="col">Length</th>
              <th scope="col">Segments</th>
              <th scope="col">Sync</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={row.session.id}>
                <td>
                  <button class="link" onClick={() => open(row.session.id)}>
                    {row.job_title}
                  </button>
                </td>
                <td>{row.candidate_name ?? "—"}</td>
                <td>{when(row.session.started_at_ms)}</td>
                <td>
                  {clock((row.session.seconds_recorded ?? 0) * 1000)}
                  {row.session.state === "interrupted" && <span class="meta cut-short"> · cut short</span>}
                </td>
                <td>{row.segments}</td>
                {(() => {
                  const sync = syncText(row, syncStatus.value[row.session.id]);
                  return (
                    <td class="sync" data-session={row.session.id}>
                      {sync.text}
                      {sync.why && <span class="why">: {sync.why}</span>}
                    </td>
                  );
                })()}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
