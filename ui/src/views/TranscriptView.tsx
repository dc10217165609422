// The live transcript: finals in timeline order, partial text visibly provisional, auto-scroll
// that stops when the reader scrolls up (with "Jump to live"), and a polite live region that
// announces each new final line. The list is virtualised: a 2-hour transcript keeps only the
// lines in view in the page.
import { memo } from "preact/compat";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { clock } from "../format";
import { transcript } from "../state";
import { type Line, lines } from "../transcript";
import { useVirtualList } from "../virtual";

/** How close to the end (in pixels) still counts as following the live end. */
const FOLLOW_SLACK_PX = 24;

/** One line; unchanged lines are skipped when the transcript grows. */
const LineView = memo(function LineView({ line, index, count, start, measure }: { line: Line; index: number; count: number; start: number; measure: (el: HTMLElement | null) => void }) {
  return (
    <p
      class={`line virtual${line.partial ? " partial" : ""}${line.failed ? " failed" : ""}`}
      data-source={line.source}
      data-index={index}
      ref={measure}
      role="listitem"
      aria-posinset={index + 1}
      aria-setsize={count}
      style={{ top: `${start}px` }}
    >
      <span class="speaker">{line.speaker}</span>
      {!line.partial && <time class="at">{clock(line.startMs)}</time>}
      <span class="text">{line.failed ? "(missed by the live transcript; kept in the recording and transcribed afterwards)" : line.text}</span>
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

  const list = useVirtualList({
    count: all.length,
    scroller: () => box.current,
    key: (i) => all[i].key,
    followEnd: true,
  });
  const last = all[all.length - 1];

  useLayoutEffect(() => {
    if (following && all.length > 0) list.scrollToEnd();
  }, [all.length, last?.key, last?.text, following]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const onScroll = () => setFollowing(el.scrollTop + el.clientHeight >= el.scrollHeight - FOLLOW_SLACK_PX);
    el.addEventListener("scroll", onScroll, { passive: true });
    return () => el.removeEventListener("scroll", onScroll);
  }, []);

  return (
    <section class="transcript" aria-label="Live transcript">
      <div class="transcript-lines" ref={box} id="transcript" tabIndex={0}>
        {all.length === 0 && <p class="empty">The transcript appears here as people speak.</p>}
        {all.length > 0 && (
          <div class="virtual-lines" role="list" style={{ height: `${list.getTotalSize()}px` }}>
            {list.getVirtualItems().map((item) => (
              <LineView key={all[item.index].key} line={all[item.index]} index={item.index} count={all.length} start={item.start} measure={list.measureElement} />
            ))}
          </div>
        )}
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
