// The live transcript as a pure model: recorder events in, lines out. Partial text is keyed by
// the conversation item and replaced by its final segment; finals stay in timeline order.
import type { RecorderEvent, Segment } from "./bindings.gen";
import { speaker } from "./format";

/** One line of the transcript as shown. */
export interface Line {
  /** Stable key: the segment id, or `partial:<item id>`. */
  key: string;
  source: string;
  speaker: string;
  startMs: number;
  endMs: number;
  text: string;
  /** Provisional text still being transcribed. */
  partial: boolean;
  /** The live transcript missed the span (kept for back-fill). */
  failed: boolean;
  /** Transcribed after the recording (back-fill): the live transcript had missed it. */
  later?: boolean;
}

/** The transcript so far. */
export interface Transcript {
  /** Final and failed lines, ordered by start time. */
  finals: Line[];
  /** Provisional lines by item id, in arrival order. */
  partials: Map<string, Line>;
}

export const emptyTranscript = (): Transcript => ({ finals: [], partials: new Map() });

/** A stored segment as a line. */
export function lineOf(segment: Segment): Line {
  return {
    key: segment.id,
    source: segment.source,
    speaker: speaker(segment.source, segment.speaker_label),
    startMs: segment.start_ms,
    endMs: segment.end_ms,
    text: segment.status === "failed" ? "" : segment.text,
    partial: false,
    failed: segment.status === "failed",
    later: segment.status === "backfilled",
  };
}

/** Inserts `line` in start order (after lines that start at the same time), replacing a line with its key. */
function insertFinal(finals: Line[], line: Line): Line[] {
  const rest = finals.filter((l) => l.key !== line.key);
  let lo = 0;
  let hi = rest.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rest[mid].startMs <= line.startMs) lo = mid + 1;
    else hi = mid;
  }
  return [...rest.slice(0, lo), line, ...rest.slice(lo)];
}

function withoutPartial(partials: Map<string, Line>, itemId: string | null): Map<string, Line> {
  if (itemId === null || !partials.has(itemId)) return partials;
  const next = new Map(partials);
  next.delete(itemId);
  return next;
}

/** The transcript after `event`; events that do not change it return it unchanged. */
export function applyEvent(t: Transcript, event: RecorderEvent): Transcript {
  switch (event.type) {
    case "partial": {
      const previous = t.partials.get(event.item_id);
      const partials = new Map(t.partials);
      partials.set(event.item_id, {
        key: `partial:${event.item_id}`,
        source: event.source,
        speaker: speaker(event.source, null),
        startMs: previous?.startMs ?? Number.POSITIVE_INFINITY,
        endMs: previous?.endMs ?? Number.POSITIVE_INFINITY,
        text: event.text,
        partial: true,
        failed: false,
      });
      return { finals: t.finals, partials };
    }
    case "final":
    case "failed":
      return {
        finals: insertFinal(t.finals, lineOf(event.segment)),
        partials: withoutPartial(t.partials, event.segment.item_id),
      };
    default:
      return t;
  }
}

/** Everything to show: finals, then what is still being transcribed. */
export function lines(t: Transcript): Line[] {
  return [...t.finals, ...t.partials.values()];
}

/** The line being heard at `positionMs` (lines in start order): the last one started, while it
 * lasts; `null` in a pause between lines. */
export function lineAt(lines: Line[], positionMs: number): Line | null {
  let found: Line | null = null;
  for (const line of lines) {
    if (line.startMs > positionMs) break;
    if (positionMs < line.endMs) found = line;
  }
  return found;
}
