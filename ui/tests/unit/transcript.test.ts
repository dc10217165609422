// The live transcript model: partials replaced by their finals, timeline order, failed spans.
import { describe, expect, it } from "vitest";
import type { RecorderEvent, Segment } from "../../src/bindings.gen";
import { applyEvent, emptyTranscript, lineAt, lineOf, lines, type Transcript } from "../../src/transcript";

function segment(id: string, itemId: string | null, source: string, startMs: number, text: string, status: Segment["status"] = "final"): Segment {
  return { id, session_id: "s", item_id: itemId, source, speaker_label: null, start_ms: startMs, end_ms: startMs + 900, text, status };
}

function run(events: RecorderEvent[]): Transcript {
  return events.reduce(applyEvent, emptyTranscript());
}

const shown = (t: Transcript) => lines(t).map((l) => `${l.speaker}${l.partial ? "~" : ""}: ${l.failed ? "(failed)" : l.text}`);

describe("the live transcript", () => {
  it("shows partial text, then replaces it with the final segment", () => {
    const partial = run([
      { type: "partial", source: "microphone", item_id: "item_1", text: "one" },
      { type: "partial", source: "microphone", item_id: "item_1", text: "one two" },
    ]);
    expect(shown(partial)).toEqual(["You~: one two"]);
    const done = applyEvent(partial, { type: "final", source: "microphone", segment: segment("a", "item_1", "microphone", 0, "one two three") });
    expect(shown(done)).toEqual(["You: one two three"]);
    expect(done.partials.size).toBe(0);
  });

  it("keeps finals in timeline order whatever order they arrive in, with speakers by source", () => {
    const t = run([
      { type: "final", source: "system", segment: segment("b", "i2", "system", 5_000, "later") },
      { type: "final", source: "microphone", segment: segment("a", "i1", "microphone", 1_000, "earlier") },
      { type: "final", source: "microphone", segment: segment("c", "i3", "microphone", 5_000, "same start, arrived last") },
    ]);
    expect(shown(t)).toEqual(["You: earlier", "Candidate: later", "You: same start, arrived last"]);
  });

  it("shows finals before text still being transcribed", () => {
    const t = run([
      { type: "partial", source: "system", item_id: "i9", text: "hel" },
      { type: "final", source: "microphone", segment: segment("a", "i1", "microphone", 0, "hello") },
    ]);
    expect(shown(t)).toEqual(["You: hello", "Candidate~: hel"]);
  });

  it("marks a failed span and drops its partial", () => {
    const t = run([
      { type: "partial", source: "microphone", item_id: "i1", text: "garb" },
      { type: "failed", source: "microphone", segment: segment("a", "i1", "microphone", 0, "", "failed"), message: "server_error" },
    ]);
    expect(shown(t)).toEqual(["You: (failed)"]);
  });

  it("replaces a segment delivered twice instead of showing it twice", () => {
    const s = segment("a", "i1", "microphone", 0, "once");
    const t = run([
      { type: "final", source: "microphone", segment: s },
      { type: "final", source: "microphone", segment: { ...s, text: "once, corrected" } },
    ]);
    expect(shown(t)).toEqual(["You: once, corrected"]);
  });

  it("ignores events that are not about text", () => {
    const before = run([{ type: "final", source: "microphone", segment: segment("a", "i1", "microphone", 0, "x") }]);
    const after = applyEvent(before, { type: "paused", paused: true });
    expect(after).toBe(before);
  });
});

describe("the line heard during playback", () => {
  const lines = [
    segment("a", "i1", "microphone", 0, "one"),
    segment("b", "i2", "system", 2_000, "two"),
    segment("c", "i3", "microphone", 2_500, "three"),
  ].map((s) => lineOf({ ...s, end_ms: s.start_ms + 1_000 }));

  it("is the last line started while it lasts, and none in a pause", () => {
    expect(lineAt(lines, 0)?.key).toBe("a");
    expect(lineAt(lines, 999)?.key).toBe("a");
    expect(lineAt(lines, 1_500)).toBeNull();
    expect(lineAt(lines, 2_200)?.key).toBe("b");
    // Overlapping speakers: the one who started last.
    expect(lineAt(lines, 2_700)?.key).toBe("c");
    expect(lineAt(lines, 3_200)?.key).toBe("c");
    expect(lineAt(lines, 9_000)).toBeNull();
  });
});
