// Formatting helpers: clocks, search snippets, meters, speaker names.
import { describe, expect, it } from "vitest";
import { clock, meterFill, snippetParts, speaker } from "../../src/format";

describe("formatting", () => {
  it("writes clocks as m:ss under an hour and h:mm:ss above", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(61_999)).toBe("1:01");
    expect(clock(3_600_000 + 62_000)).toBe("1:01:02");
    expect(clock(-5)).toBe("0:00");
  });

  it("splits a search snippet into plain and matched parts", () => {
    expect(snippetParts("…said [one] two [three]")).toEqual([
      { text: "…said ", hit: false },
      { text: "one", hit: true },
      { text: " two ", hit: false },
      { text: "three", hit: true },
    ]);
    expect(snippetParts("no match here")).toEqual([{ text: "no match here", hit: false }]);
  });

  it("maps dBFS onto a meter from -60 to 0", () => {
    expect(meterFill(-120)).toBe(0);
    expect(meterFill(-30)).toBeCloseTo(0.5);
    expect(meterFill(3)).toBe(1);
    expect(meterFill(Number.NEGATIVE_INFINITY)).toBe(0);
  });

  it("names speakers like the exports do", () => {
    expect(speaker("microphone", null)).toBe("You");
    expect(speaker("system", null)).toBe("Candidate");
    expect(speaker("system", "  Ada ")).toBe("Ada");
    expect(speaker("system", " ")).toBe("Candidate");
  });
});
