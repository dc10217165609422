// The live transcript: finals in timeline order, partial text visibly provisional, auto-scroll
// that stops when the reader scrolls up (with "Jump to live"), and a polite live region that
// announces each new final line.
import { memo } from "preact/compat";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { clock } from "../format";
import { transcript } from "../state";
import { type Line, lines } from "../transcript";

/** One line; unchanged lines are skipped when the transcript grows. */
const LineView = memo(function LineView({ line }: { line: Line }) {
  return (
    <p class={`line${line.partial ? " partial" : ""}${line.failed ? " failed" : ""}`} data-source={line.source}>
      <span class="speaker">{line.speaker}</span>
      {!line.partial && <time class="at">{clock(line.startMs)}</time>}
      <span class="text">{line.failed ? "(not transcribed; kept in the recording)" : line.text}</span>
      {line.partial && <span class="sr-only"> (still transcribing)</span>}
    </p>
  );
});

/** The live transcript; it redraws only when the transcript changes, not with its parent. */
export const TranscriptView = memo(function TranscriptView() {
  const box = useRef<HTMLDivElement>(null);
  const [following, setFollowing] = useState(true);
  const current = transcript.value;
  const all = useMemo(() => lines(current), [current]);
  const finals = current.finals;
  const lastFinal = finals.length > 0 ? finals[finals.length - 1] : null;

  useLayoutEffect(() => {
    if (following && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [all.length, all[all.length - 1]?.text, following]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const onScroll = () => setFollowing(el.scrollTop + el.clientHeight >= el.scrollHeight - 24);
    el.addEventListener("scroll", onScroll, { passive: true });
    return () => el.removeEventListener("scroll", onScroll);
  }, []);

  return (
    <section class="transcript" aria-label="Live transcript">
      <div class="transcript-lines" ref={box} id="transcript" tabIndex={0}>
        {all.length === 0 && <p class="empty">The transcript appears here as people speak.</p>}
        {all.map((line) => (
          <LineView key={line.key} line={line} />
        ))}
      </div>
      {!following && (
        <button class="jump" onClick={() => setFollowing(true)}>
          Jump to live ↓
        </button>
      )}
      <div class="sr-only" aria-live="polite" id="transcript-announcer">
        {lastFinal && !lastFinal.failed ? `${lastFinal.speaker}: ${lastFinal.text}` : ""}
      </div>
    </section>
  );
});
