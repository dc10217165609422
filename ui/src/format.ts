// Small formatting helpers shared by the screens (and mirrored from the Rust exporter where the
// two must agree, like speaker names).

/** The speaker shown for a segment: its label, else You (microphone) / Candidate (system). */
export function speaker(source: string, label: string | null): string {
  if (label && label.trim() !== "") return label.trim();
  return source === "system" ? "Candidate" : "You";
}

/** `h:mm:ss`, or `m:ss` under an hour. */
export function clock(ms: number | null): string {
  const s = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const mm = Math.floor(s / 60) % 60;
  const ss = String(s % 60).padStart(2, "0");
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(mm).padStart(2, "0")}:${ss}`;
  return `${mm}:${ss}`;
}

/** `1 segment`, `2 segments`: a count with its noun, singular for one. */
export function counted(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
}

/** A message as a sentence: Rust's errors start in lower case, as Rust's errors do, and the UI
 * shows them on their own, where they should start with a capital. */
export function sentence(message: string): string {
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** A search snippet split into plain and matched parts (the store marks matches with `[` `]`). */
export function snippetParts(snippet: string): { text: string; hit: boolean }[] {
  const parts: { text: string; hit: boolean }[] = [];
  const re = /\[([^\]]*)\]/g;
  let last = 0;
  for (let m = re.exec(snippet); m !== null; m = re.exec(snippet)) {
    if (m.index > last) parts.push({ text: snippet.slice(last, m.index), hit: false });
    parts.push({ text: m[1], hit: true });
    last = m.index + m[0].length;
  }
  if (last < snippet.length) parts.push({ text: snippet.slice(last), hit: false });
  return parts;
}

/** A level in dBFS as a 0–1 meter fill (-60 dB and below is empty). */
export function meterFill(dbfs: number | null): number {
  if (dbfs === null || !Number.isFinite(dbfs)) return 0;
  return Math.min(1, Math.max(0, (dbfs + 60) / 60));
}

/** A local date and time for lists. */
export function when(unixMs: number): string {
  return new Date(unixMs).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

/** The keys of a pressed combination as a global shortcut (`CommandOrControl+Alt+K`): Ctrl/⌘
 * or Alt (Shift may come too; alone it would take capitals from every app) and one letter,
 * digit, F-key or Space; `null` until the combination is complete (only modifiers so far) or for
 * keys a shortcut cannot use. */
export function acceleratorOf(e: { ctrlKey: boolean; altKey: boolean; shiftKey: boolean; metaKey: boolean; code: string }): string | null {
  let key: string | null = null;
  if (/^Key[A-Z]$/.test(e.code)) key = e.code.slice(3);
  else if (/^Digit[0-9]$/.test(e.code)) key = e.code.slice(5);
  else if (/^F([1-9]|1[0-9]|2[0-4])$/.test(e.code)) key = e.code;
  else if (e.code === "Space") key = "Space";
  const mods = [e.ctrlKey || e.metaKey ? "CommandOrControl" : null, e.altKey ? "Alt" : null, e.shiftKey ? "Shift" : null].filter((m) => m !== null);
  if (key === null || !(e.ctrlKey || e.metaKey || e.altKey)) return null;
  return [...mods, key].join("+");
}

/** Whether a session waits for another account, or for its recruiter to send it (the shell says
 * why in `held`); a session already synced is not held, whatever its destination. */
export function isHeld(session: { held: string | null; sync_state: string | null }): boolean {
  return session.held !== null && session.sync_state !== "synced";
}
