// Formatting helpers: clocks, counts, sentences, search snippets, meters, speaker names.
import { describe, expect, it } from "vitest";
import { acceleratorOf, clock, counted, meterFill, sentence, snippetParts, speaker } from "../../src/format";

describe("formatting", () => {
  it("writes clocks as m:ss under an hour and h:mm:ss above", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(61_999)).toBe("1:01");
    expect(clock(3_600_000 + 62_000)).toBe("1:01:02");
    expect(clock(-5)).toBe("0:00");
  });

  it("counts in the singular for one and the plural otherwise", () => {
    expect(counted(1, "segment")).toBe("1 segment");
    expect(counted(0, "segment")).toBe("0 segments");
    expect(counted(2, "segment")).toBe("2 segments");
  });

  it("starts Rust's lower-case errors with a capital, and leaves the rest alone", () => {
    expect(sentence("this link cannot be used: ask your admin")).toBe("This link cannot be used: ask your admin");
    expect(sentence("Already a sentence.")).toBe("Already a sentence.");
    expect(sentence("")).toBe("");
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

describe("a pressed key combination as a shortcut", () => {
  const press = (code: string, mods: { ctrl?: boolean; alt?: boolean; shift?: boolean; meta?: boolean } = {}) =>
    acceleratorOf({ code, ctrlKey: !!mods.ctrl, altKey: !!mods.alt, shiftKey: !!mods.shift, metaKey: !!mods.meta });

  it("names Ctrl or ⌘ as CommandOrControl, then Alt, Shift and the key", () => {
    expect(press("KeyK", { ctrl: true, alt: true })).toBe("CommandOrControl+Alt+K");
    expect(press("KeyK", { meta: true, shift: true })).toBe("CommandOrControl+Shift+K");
    expect(press("Digit7", { alt: true })).toBe("Alt+7");
    expect(press("F8", { ctrl: true })).toBe("CommandOrControl+F8");
    expect(press("Space", { ctrl: true, shift: true })).toBe("CommandOrControl+Shift+Space");
  });

  it("waits while only modifiers are down, and refuses a bare key or an unusable one", () => {
    expect(press("ControlLeft", { ctrl: true })).toBeNull();
    expect(press("KeyK")).toBeNull();
    expect(press("KeyK", { shift: true })).toBeNull();
    expect(press("Comma", { ctrl: true })).toBeNull();
    expect(press("F25", { ctrl: true })).toBeNull();
  });
});
