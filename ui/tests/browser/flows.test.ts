// The recruiter's flows in headless Chromium (Debian's, through playwright-core) against the
// real UI with Tauri's IPC mocked (harness.ts): first run, record with a live transcript,
// warnings, stop, library search, session export, and errors shown to the user.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createServer, type ViteDevServer } from "vite";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RecorderEvent, Segment, ShortcutUsed } from "../../src/bindings.gen";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const shots = join(root, "test-results");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

let server: ViteDevServer;
let browser: Browser;
let page: Page;
let url: string;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  server = await createServer({ root, configFile: join(root, "vite.config.ts"), server: { port: 0, host: "127.0.0.1" }, logLevel: "error" });
  await server.listen();
  url = `${server.resolvedUrls!.local[0]}tests/browser/harness.html`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

beforeEach(async () => {
  page = await browser.newPage({ viewport: { width: 1120, height: 760 } });
  page.on("pageerror", (err) => {
    throw err;
  });
  await page.goto(url);
});

afterEach(async () => {
  await page?.close();
});

const emit = (event: RecorderEvent) => page.evaluate((e) => window.harness.emit(e), event);
const calls = (cmd: string) => page.evaluate((c) => window.harness.calls.filter((x) => x.cmd === c).map((x) => x.args), cmd);

function segment(id: string, startMs: number, text: string): Segment {
  return { id, session_id: "session-1", item_id: `item_${id}`, source: "microphone", speaker_label: null, start_ms: startMs, end_ms: startMs + 800, text, status: "final" };
}

async function startRecording(title: string) {
  await page.click("#use-local-only");
  await page.fill("#interview", title);
  await page.selectOption("#microphone", "pulse:virtual_mic");
  await page.check("#consent");
  await page.click("#record");
  await page.waitForSelector("#stop");
}

describe("the record flow", () => {
  it("goes from first run to a live transcript, and keeps Record locked until the notice is confirmed", async () => {
    await page.waitForSelector("#use-local-only");
    await page.screenshot({ path: join(shots, "first-run.png") });
    await page.click("#use-local-only");
    await page.fill("#interview", "Backend engineer – Ada");
    await page.selectOption("#microphone", "pulse:virtual_mic");
    expect(await page.isDisabled("#record")).toBe(true);
    // Keyboard only: focus the notice and confirm it with the space bar.
    await page.focus("#consent");
    await page.keyboard.press("Space");
    expect(await page.isDisabled("#record")).toBe(false);
    await page.click("#record");
    await page.waitForSelector("#stop");
    const [start] = (await calls("start_recording")) as { request: { consent_confirmed_at_ms: number } }[];
    const confirmedAt = start.request.consent_confirmed_at_ms;
    expect(Math.abs(Date.now() - confirmedAt)).toBeLessThan(10_000);
    expect(start).toEqual({
      request: {
        interview: "Backend engineer – Ada",
        microphone: { mode: "id", id: "pulse:virtual_mic" },
        system_audio: null,
        language: null,
        prompt: null,
        consent_confirmed_at_ms: confirmedAt,
      },
    });

    await emit({ type: "connection", source: "microphone", state: "connected" });
    await page.evaluate(() => window.harness.levels({ peaks_dbfs: [-12, null] }));
    await emit({ type: "partial", source: "microphone", item_id: "item_a", text: "one two" });
    const partial = page.locator(".line.partial");
    await expect.poll(() => partial.textContent()).toContain("one two");
    expect(Number(await page.getAttribute("[aria-label='Microphone level']", "aria-valuenow"))).toBe(80);
    // A source without a new peak keeps its meter as it is.
    await page.evaluate(() => window.harness.levels({ peaks_dbfs: [null, -30] }));
    expect(Number(await page.getAttribute("[aria-label='Microphone level']", "aria-valuenow"))).toBe(80);

    await emit({ type: "final", source: "microphone", segment: segment("a", 1_200, "one two three") });
    await expect.poll(() => page.locator(".line.partial").count()).toBe(0);
    await expect.poll(() => page.textContent("#transcript")).toContain("one two three");
    expect(await page.textContent("#transcript-announcer")).toBe("You: one two three");
    expect(await page.textContent(".line .at")).toBe("0:01");
    await expect.poll(() => page.textContent("#timer"), { timeout: 3_000 }).toBe("0:01");
    // Paused, the timer stands still and says so, as does the tab.
    expect(await page.textContent("#nav-record")).toBe("● Recording");
    await page.click("#pause");
    await expect.poll(() => page.textContent("#pause")).toBe("Resume");
    expect(await page.textContent("#timer .paused-label")).toContain("Paused: nothing is recorded");
    expect(await page.textContent("#nav-record")).toBe("Paused");
    const held = await page.textContent("#timer");
    await page.waitForTimeout(1_200);
    expect(await page.textContent("#timer")).toBe(held);
    await page.screenshot({ path: join(shots, "recording.png") });
    await page.click("#pause");
    await expect.poll(() => page.textContent("#nav-record")).toBe("● Recording");
    expect(await page.$("#timer .paused-label")).toBeNull();
  });

  it("adds bookmarks and notes, and keeps a note still being typed when Stop is pressed", async () => {
    await startRecording("Notes");
    await page.click("#bookmark");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Bookmark added.");
    await page.fill("#note", "strong on Kafka");
    await page.keyboard.press("Enter");
    await expect.poll(() => calls("add_note")).toEqual([
      { kind: "bookmark", body: "" },
      { kind: "note", body: "strong on Kafka" },
    ]);
    expect(await page.inputValue("#note")).toBe("");
    // Typed, not added, then Stop: the note is saved before the recording stops.
    await page.fill("#note", "ask about the on-call rota");
    await page.click("#stop");
    await page.waitForSelector("#record");
    const order = await page.evaluate(() => window.harness.calls.map((c) => c.cmd).filter((c) => c === "add_note" || c === "stop_recording"));
    expect(order).toEqual(["add_note", "add_note", "add_note", "stop_recording"]);
    expect((await calls("add_note")).at(-1)).toEqual({ kind: "note", body: "ask about the on-call rota" });
  });

  it("asks for levels only while its meters are in sight", async () => {
    const lastShown = async () => ((await calls("show_levels")) as { shown: boolean }[]).at(-1)?.shown;
    const setVisibility = (state: "visible" | "hidden") =>
      page.evaluate((s) => {
        Object.defineProperty(document, "visibilityState", { value: s, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
      }, state);
    await page.click("#use-local-only");
    await expect.poll(lastShown).toBe(true);
    // The window minimised, hidden to the tray, or (on macOS) covered.
    await setVisibility("hidden");
    await expect.poll(lastShown).toBe(false);
    await setVisibility("visible");
    await expect.poll(lastShown).toBe(true);
    // Another screen has no meters.
    await page.click("#nav-library");
    await expect.poll(lastShown).toBe(false);
    await page.click("#nav-record");
    await expect.poll(lastShown).toBe(true);
  });

  it("shows warnings as banners and clears them when they stop holding", async () => {
    await startRecording("Warnings");
    await emit({ type: "audio", event: { type: "warning", source: 0, warning: { kind: "silence", seconds: 10 } } });
    await expect.poll(() => page.textContent(".banners")).toContain("No audio from the microphone for 10 s");
    await emit({ type: "audio", event: { type: "warning", source: 0, warning: { kind: "write_failed", message: "recording file /data/x.ogg: No space left on device (os error 28)" } } });
    await expect.poll(() => page.textContent(".banners")).toContain("The recording can no longer be saved (recording file /data/x.ogg: No space left on device (os error 28)): free some disk space.");
    await emit({ type: "warning", source: "microphone", message: "offline — recording continues, the transcript will catch up" });
    await expect.poll(() => page.textContent(".banners")).toContain("Offline — recording continues");
    await emit({ type: "audio", event: { type: "switched", source: 0, from: "USB Mic", to: "Built-in Mic", reason: "fallback" } });
    await expect.poll(() => page.textContent(".banners")).toContain("USB Mic was unplugged, now recording from Built-in Mic");
    await page.screenshot({ path: join(shots, "warnings.png") });
    await emit({ type: "audio", event: { type: "cleared", source: 0, warning: "silence" } });
    await emit({ type: "connection", source: "microphone", state: "connected" });
    await expect.poll(() => page.textContent(".banners")).not.toContain("No audio");
    expect(await page.textContent(".banners")).not.toContain("Offline");
  });

  it("stops following when the reader scrolls up, and jumps back to live", async () => {
    await startRecording("Long one");
    for (let i = 0; i < 60; i++) await emit({ type: "final", source: "microphone", segment: segment(`s${i}`, i * 2_000, `utterance number ${i}`) });
    const box = page.locator("#transcript");
    await expect.poll(() => box.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24)).toBe(true);
    await box.evaluate((el) => el.scrollTo({ top: 0 }));
    await page.waitForSelector(".jump");
    await emit({ type: "final", source: "microphone", segment: segment("late", 200_000, "a late line") });
    expect(await box.evaluate((el) => el.scrollTop)).toBe(0);
    await page.click(".jump");
    await expect.poll(() => box.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24)).toBe(true);
  });

  it("keeps a 2-hour transcript to the lines in view, follows new lines, and reaches every line by scrolling or keys", async () => {
    await startRecording("Two hours");
    // 1,800 finals (one every 4 s), a long one among them that wraps, and a late one that belongs
    // near the start.
    await page.evaluate(async (seg) => {
      for (let n = 0; n < 1_800; n++) {
        const text = n === 1_790 ? `long answer ${n}: ${"and then we talked about the billing service again ".repeat(12)}` : `answer number ${n}`;
        await window.harness.emit({ type: "final", source: "microphone", segment: { ...seg, id: `s${n}`, item_id: `item_s${n}`, start_ms: n * 4_000, end_ms: n * 4_000 + 3_000, text } });
      }
    }, segment("template", 0, ""));
    const box = page.locator("#transcript");
    await expect.poll(() => page.locator("#transcript .line").last().textContent()).toContain("answer number 1799");
    const rendered = await page.locator("#transcript .line").count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(80);
    expect(await box.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24)).toBe(true);
    expect(await page.getAttribute("#transcript .line:last-child", "aria-setsize")).toBe("1800");

    // Lines do not overlap: each starts where the one before it ends (the long one wraps).
    const overlaps = await page.evaluate(() => {
      const boxes = [...document.querySelectorAll("#transcript .line")].map((l) => l.getBoundingClientRect());
      return boxes.slice(1).filter((b, i) => Math.abs(b.top - boxes[i].bottom) > 1).length;
    });
    expect(overlaps).toBe(0);
    const long = await page.locator("#transcript .line", { hasText: "long answer 1790" }).evaluate((el) => el.getBoundingClientRect().height);
    expect(long).toBeGreaterThan(50);

    // A new line while following is shown at the end; a partial after it too.
    await emit({ type: "final", source: "microphone", segment: segment("s1800", 1_800 * 4_000, "answer number 1800") });
    await emit({ type: "partial", source: "microphone", item_id: "item_next", text: "still speaking" });
    await expect.poll(() => page.locator("#transcript .line").last().textContent()).toContain("still speaking");
    await expect.poll(() => box.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24)).toBe(true);

    // The first line is reached by keys, as a keyboard user would.
    await box.focus();
    await page.keyboard.press("Home");
    await expect.poll(() => page.locator("#transcript .line").first().textContent()).toContain("answer number 0");
    await page.waitForSelector(".jump");
    const first = await page.locator("#transcript .line").first().getAttribute("aria-posinset");
    expect(first).toBe("1");
    // A late line for the start arrives while the reader is there: it is shown in its place, and
    // the reader's view is not moved to the end.
    await emit({ type: "final", source: "microphone", segment: segment("early", 2_000, "a late line from the start") });
    await expect.poll(() => page.textContent("#transcript")).toContain("a late line from the start");
    expect(await box.evaluate((el) => el.scrollTop + el.clientHeight < el.scrollHeight - 1_000)).toBe(true);
    await page.screenshot({ path: join(shots, "record-2-hour-transcript-top.png") });

    // Jump to live returns to the end.
    await page.click(".jump");
    await expect.poll(() => page.locator("#transcript .line").last().textContent()).toContain("still speaking");
    await expect.poll(() => box.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24)).toBe(true);
    await page.screenshot({ path: join(shots, "record-2-hour-transcript.png") });
  });

  it("says why a recording could not start, and keeps the form", async () => {
    await page.click("#use-local-only");
    await page.evaluate(() => window.harness.fail("start_recording", { kind: "audio", message: "no microphone is connected: plug one in" }));
    await page.fill("#interview", "No mic");
    await page.check("#consent");
    await page.click("#record");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("No microphone is connected: plug one in");
    expect(await page.inputValue("#interview")).toBe("No mic");
    expect(await page.isVisible("#record")).toBe(true);
  });
});

describe("with an organisation", () => {
  it("signs in on first run, shows sync progress in the library, and signs out", async () => {
    await page.goto(`${url}?org`);
    await page.waitForSelector("#sign-in-title");
    await page.fill("#email", "ada@acme.test");
    await page.fill("#password", "wrong");
    await page.click("#sign-in");
    await expect.poll(() => page.textContent("#sign-in-error")).toContain("The email or password is wrong");
    await page.screenshot({ path: join(shots, "sign-in-error.png") });
    await page.fill("#password", "right password");
    await page.click("#sign-in");
    await page.waitForSelector("#record");
    expect(await page.textContent("#nav-account")).toBe("ada@acme.test");
    expect(await calls("finish_first_run")).toHaveLength(1);
    expect(await page.isVisible("#signed-out-banner")).toBe(false);

    await page.fill("#interview", "Synced one");
    await page.check("#consent");
    await page.click("#record");
    await page.click("#stop");
    await page.click("#nav-library");
    await page.waitForSelector("#sessions");
    const cell = page.locator("#sessions td.sync");
    const id = await cell.getAttribute("data-session");
    await page.evaluate((session) => window.harness.sync({ session_id: session!, state: "syncing", sent: 1, total: 2 }), id);
    await expect.poll(() => cell.textContent()).toBe("Syncing 1/2");
    await page.evaluate((session) => window.harness.sync({ session_id: session!, state: "failed", reason: "the project is unreachable", retry_at_ms: Date.now() + 2000 }), id);
    await expect.poll(() => cell.textContent()).toBe("Retrying: the project is unreachable");
    await page.evaluate((session) => window.harness.sync({ session_id: session!, state: "synced", segments: 2 }), id);
    await expect.poll(() => cell.textContent()).toBe("Synced");

    await page.click("#nav-account");
    await expect.poll(() => page.textContent("#organisations")).toContain("Acme Hiring — recruiter");
    await page.screenshot({ path: join(shots, "account.png") });
    await page.click("#sign-out");
    await expect.poll(() => page.textContent("#nav-account")).toBe("Sign in");
    await page.click("#nav-record");
    await page.waitForSelector("#signed-out-banner");
  });

  it("signs in with an emailed code", async () => {
    await page.goto(`${url}?org`);
    await page.click("#method-code");
    await page.fill("#email", "bob@acme.test");
    await page.click("#send-code");
    await page.fill("#code", "000000");
    await page.click("#verify-code");
    await expect.poll(() => page.textContent("#sign-in-error")).toContain("That code is wrong");
    await page.fill("#code", "123456");
    await page.click("#verify-code");
    await page.waitForSelector("#record");
    expect(await calls("send_email_code")).toEqual([{ email: "bob@acme.test" }]);
  });

  it("signs in with an emailed link, saying where it went while it waits", async () => {
    await page.goto(`${url}?org`);
    await page.click("#method-link");
    await page.fill("#email", "carol@acme.test");
    await page.click("#send-link");
    await expect.poll(() => page.textContent("#link-sent")).toContain("A link is on its way to carol@acme.test");
    expect(await page.isDisabled("#send-link")).toBe(true);
    await page.evaluate(() => window.harness.openEmailLink());
    await page.waitForSelector("#record");
    expect(await calls("sign_in_email_link")).toEqual([{ email: "carol@acme.test" }]);
  });
});

describe("a session recorded on this computer only", () => {
  it("is held back from the organisation until the recruiter chooses to send it", async () => {
    await page.goto(`${url}?org&recorded-local`);
    await page.click("#nav-library");
    const cell = page.locator('#sessions td.sync[data-session="session-local"]');
    await expect.poll(() => cell.textContent()).toContain("On this computer only: recorded on this computer only");
    // Signed out, nothing could be sent anyway: no notice.
    expect(await page.isVisible("#held-notice")).toBe(false);
    await page.selectOption("#filter", "pending");
    await page.waitForSelector("text=No session matches this filter.");
    await page.selectOption("#filter", "held");
    await page.waitForSelector("#sessions");

    // Signed out: it says how to send it, and offers nothing to press.
    await page.click("text=Data analyst");
    await expect.poll(() => page.textContent("#sync-held")).toContain("Sign in to your organisation to send it.");
    expect(await page.isVisible("#share-session")).toBe(false);

    await page.click("#nav-account");
    await page.fill("#email", "ada@acme.test");
    await page.fill("#password", "right password");
    await page.click("#sign-in");
    await expect.poll(() => page.textContent("#nav-account")).toBe("ada@acme.test");
    await page.click("#nav-library");
    await expect.poll(() => page.textContent("#held-notice")).toContain("1 session is not sent to your organisation");
    await page.click("#show-held");
    await page.waitForSelector("#held-notice", { state: "detached" });
    expect(await page.inputValue("#filter")).toBe("held");
    await page.click("text=Data analyst");
    await page.click("#share-session");
    await expect.poll(() => page.textContent("#confirm-share-text")).toContain("https://org.supabase.co as recorded by you (ada@acme.test)");
    expect(await page.textContent("#confirm-share-text")).toContain("It has no transcript yet: once sent, its recording is transcribed");
    await page.screenshot({ path: join(shots, "send-to-organisation.png") });
    // Keeping it here sends nothing.
    await page.click("text=Keep it here");
    expect(await calls("share_session")).toEqual([]);
    await page.click("#share-session");
    await page.click("#confirm-share-button");
    await expect.poll(() => calls("share_session")).toEqual([{ sessionId: "session-local" }]);
    await page.waitForSelector("#sync-held", { state: "detached" });
    await page.click("#nav-library");
    await page.selectOption("#filter", "all");
    await expect.poll(() => cell.textContent()).toBe("Waiting to sync");
  });
});

describe("settings", () => {
  it("shows the version and folders, and produces a diagnostics report", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    expect(await page.textContent("#about-version")).toBe("0.1.0");
    await page.click("#copy-diagnostics");
    await expect.poll(() => page.textContent("#diagnostics")).toContain("Hark 0.1.0 on linux");
    expect(await page.textContent("main")).toContain("/home/test/.local/share/hark");
  });

  it("saves recording preferences that the next recording starts with, and applies the theme at once", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    await page.waitForSelector("#pref-microphone option[value='pulse:virtual_mic']", { state: "attached" });
    await page.selectOption("#pref-microphone", "pulse:virtual_mic");
    await page.selectOption("#pref-system-audio", "pulse:speakers.monitor");
    await page.selectOption("#pref-language", "de");
    await page.fill("#pref-prompt", "  Kubernetes, Ada Lovelace ");
    await page.click("#save-preferences");
    await expect.poll(() => page.textContent(".toast")).toContain("Preferences saved");
    const saved = (await calls("save_preferences"))[0].preferences;
    expect(saved).toEqual({ microphone: "pulse:virtual_mic", system_audio: "pulse:speakers.monitor", language: "de", prompt: "  Kubernetes, Ada Lovelace ", theme: null, record_shortcut: null, bookmark_shortcut: null });
    // The form shows what was kept.
    expect(await page.inputValue("#pref-prompt")).toBe("Kubernetes, Ada Lovelace");

    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.click("#theme-dark");
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    expect(await background()).toBe("rgb(21, 24, 28)");
    await page.click("#theme-light");
    await expect.poll(background).toBe("rgb(255, 255, 255)");
    // Changing the theme kept the recording preferences.
    expect((await calls("save_preferences")).at(-1)!.preferences).toMatchObject({ language: "de", theme: "light" });
    await page.screenshot({ path: join(shots, "settings.png"), fullPage: true });

    await page.click("#nav-record");
    // Once the devices are listed, the preferred ones are chosen.
    await expect.poll(() => page.inputValue("#microphone")).toBe("pulse:virtual_mic");
    await expect.poll(() => page.inputValue("#system-audio")).toBe("pulse:speakers.monitor");
    await page.fill("#interview", "Preferred");
    await page.check("#consent");
    await page.click("#record");
    await page.waitForSelector("#stop");
    const request = (await calls("start_recording"))[0].request as Record<string, unknown>;
    expect(request).toMatchObject({ microphone: { mode: "id", id: "pulse:virtual_mic" }, system_audio: { mode: "id", id: "pulse:speakers.monitor" }, language: "de", prompt: "Kubernetes, Ada Lovelace" });
  });
});

describe("moving the data folder", () => {
  it("takes a chosen or typed folder, says why one cannot be used, and moves to the next", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    expect(await page.textContent("#data-folder")).toBe("/home/test/.local/share/hark");
    await page.click("#move-data-open");
    await page.click("#choose-folder");
    await expect.poll(() => page.inputValue("#move-to")).toBe("/home/test/Interviews");
    await page.fill("#move-to", "/home/test/busy");
    await page.click("#move-data");
    await expect.poll(() => page.textContent("#move-problem")).toContain("is not empty");
    expect(await page.isDisabled("#move-data")).toBe(false);
    expect(await page.isVisible("#moving-data")).toBe(false);
    // Enter in the field moves too.
    await page.fill("#move-to", " /home/test/Interviews ");
    await page.press("#move-to", "Enter");
    await expect.poll(() => calls("move_data_folder")).toEqual([{ folder: "/home/test/busy" }, { folder: "/home/test/Interviews" }]);
    await expect.poll(() => page.textContent("#move-data")).toBe("Moving…");
    expect(await page.$("#move-problem")).toBeNull();
    // The window is held while the folder is copied: a modal says why, and Escape does not close it.
    expect(await page.isVisible("#moving-data")).toBe(true);
    expect(await page.textContent("#moving-data")).toContain("/home/test/Interviews");
    await page.keyboard.press("Escape");
    expect(await page.isVisible("#moving-data")).toBe(true);
  });
});

describe("updates", () => {
  it("shows a newer version with its notes, the download's progress, and why an install failed", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    await page.click("#check-updates");
    await expect.poll(() => page.textContent("#update-status")).toBe("Hark 0.2.0 is available (you have 0.1.0).");
    expect(await page.textContent("#update-notes")).toBe("Bookmarks in exports.\nFaster start.");
    await page.click("#install-update");
    await expect.poll(() => page.textContent("#update-status")).toContain("Downloading Hark 0.2.0");
    await page.evaluate(() => window.harness.updateProgress(512, 2048));
    await expect.poll(() => page.textContent("#update-status")).toContain("(25 %)");
    // While it downloads, nothing can start a second check or install.
    expect(await page.isDisabled("#check-updates")).toBe(true);
    expect(await page.$("#install-update")).toBeNull();
    const refused = "the download of Hark 0.2.0 is not signed with Hark's release key, so it was not installed and your version is unchanged";
    await page.evaluate((message) => window.harness.finishInstall({ kind: "update", message }), refused);
    // Shown as a sentence: Rust's errors start in lower case.
    await expect.poll(() => page.textContent("#update-status")).toBe(`T${refused.slice(1)}`);
    // Checking again is possible after the failure.
    expect(await page.isDisabled("#check-updates")).toBe(false);
    expect(await calls("install_update")).toHaveLength(1);
  });

  it("finds a newer version quietly after start, shows it in the bar, and Settings offers it", async () => {
    await page.click("#use-local-only");
    expect(await page.$("#update-notice")).toBeNull();
    // The quiet check runs 5 s after start.
    await page.waitForSelector("#update-notice", { timeout: 10_000 });
    expect(await page.textContent("#update-notice")).toBe("Hark 0.2.0 is available");
    await page.click("#update-notice");
    await expect.poll(() => page.textContent("#update-status")).toBe("Hark 0.2.0 is available (you have 0.1.0).");
    // Scrolled to, not left below the fold of the long Settings page.
    const inView = () => page.evaluate(() => {
      const box = document.querySelector("#install-update")!.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= window.innerHeight;
    });
    await expect.poll(inView).toBe(true);
    expect(await calls("check_for_updates")).toHaveLength(1);
  });

  it("stays quiet after start when the release feed cannot be asked", async () => {
    await page.evaluate(() => window.harness.fail("check_for_updates", { kind: "update", message: "this copy of Hark was built without a release feed" }));
    await expect.poll(() => calls("check_for_updates"), { timeout: 10_000 }).toHaveLength(1);
    expect(await page.$("#update-notice")).toBeNull();
    expect(await page.$(".toast")).toBeNull();
  });

  it("says why the release feed cannot be asked, with nothing to install", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    await page.evaluate(() => window.harness.fail("check_for_updates", { kind: "update", message: "the release feed (https://releases.example/latest.json) cannot be reached" }));
    await page.click("#check-updates");
    await expect.poll(() => page.textContent("#update-status")).toContain("cannot be reached");
    expect(await page.$("#install-update")).toBeNull();
  });
});

describe("after a crash", () => {
  it("says which recording was cut short and what was kept, opens it, and says it once", async () => {
    await page.goto(`${url}?crashed`);
    const notice = page.locator(".interrupted");
    await expect.poll(() => notice.textContent()).toContain("The recording of “Backend engineer” was cut short when Hark stopped unexpectedly. 12:34 of audio");
    await page.screenshot({ path: join(shots, "after-a-crash.png") });
    await page.click(".open-interrupted");
    await page.waitForSelector("#session-title");
    expect(await page.textContent("#session-title")).toBe("Backend engineer");
    expect(await page.textContent(".cut-short")).toContain("cut short");
    expect(await notice.count()).toBe(0);
    // The library marks it too; the notice does not come back.
    await page.click("#nav-library");
    await page.waitForSelector("#sessions");
    expect(await page.textContent("#sessions .cut-short")).toContain("cut short");
    expect(await notice.count()).toBe(0);
  });
});

describe("changing a shortcut", () => {
  it("says the shortcuts are being set up until the shell has grabbed them", async () => {
    await page.goto(`${url}?shortcuts-later`);
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    await page.waitForSelector("#shortcuts-pending");
    expect(await page.locator("#shortcuts dt").count()).toBe(0);
    await page.evaluate(() => window.harness.shortcutsReady());
    await expect.poll(() => page.locator("#shortcuts dt").count()).toBe(2);
    expect(await page.$("#shortcuts-pending")).toBeNull();
  });

  it("takes the keys pressed, saves them, and refuses the other shortcut's keys", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-settings");
    await page.click("#change-shortcut-bookmark");
    // Modifiers alone are not a shortcut yet; Escape leaves the old one.
    await page.keyboard.down("Control");
    await page.keyboard.up("Control");
    await page.keyboard.press("Escape");
    expect(await calls("save_shortcuts")).toHaveLength(0);
    expect(await page.textContent("#shortcuts [data-action=bookmark]")).toContain("not available");
    await page.click("#change-shortcut-bookmark");
    await page.keyboard.press("Control+Alt+KeyK");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Shortcut saved: Ctrl+Alt+K.");
    expect(await calls("save_shortcuts")).toEqual([{ record: "CommandOrControl+Alt+R", bookmark: "CommandOrControl+Alt+K" }]);
    expect(await page.textContent("#shortcuts")).toContain("Ctrl+Alt+K");
    expect(await page.textContent("#shortcuts [data-action=bookmark]")).not.toContain("not available");
    // The recording shortcut's keys for the bookmark: refused, with the reason.
    await page.click("#change-shortcut-bookmark");
    await page.keyboard.press("Control+Alt+KeyR");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("the same keys");
    expect(await page.textContent("#shortcuts")).toContain("Ctrl+Alt+K");
  });
});

describe("global shortcuts", () => {
  it("start and stop like the buttons, say what is missing first, and confirm bookmarks", async () => {
    await page.click("#use-local-only");
    await page.click("#nav-library");
    const shortcut = (used: ShortcutUsed) => page.evaluate((u) => window.harness.shortcut(u), used);
    await shortcut({ result: "record" });
    // The record screen comes forward and says what is missing; nothing starts.
    await expect.poll(() => page.textContent(".toast")).toContain("Name the interview first");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("interview");
    await page.fill("#interview", "Shortcut interview");
    await shortcut({ result: "record" });
    await expect.poll(() => page.textContent(".toast")).toContain("Confirm the recording notice first");
    expect(await calls("start_recording")).toHaveLength(0);

    await page.check("#consent");
    await shortcut({ result: "record" });
    await page.waitForSelector("#stop");
    expect(await calls("start_recording")).toHaveLength(1);
    await shortcut({ result: "bookmarked", at_ms: 65_000 });
    await expect.poll(() => page.textContent(".toast")).toContain("Bookmark added at 1:05");
    await shortcut({ result: "failed", message: "the database is locked: try again" });
    await expect.poll(() => page.textContent(".toast")).toContain("The bookmark was not added: the database is locked: try again");
    await shortcut({ result: "record" });
    await page.waitForSelector("#record");
    expect(await calls("stop_recording")).toHaveLength(1);
    await shortcut({ result: "not_recording" });
    await expect.poll(() => page.textContent(".toast")).toContain("Nothing is being recorded");

    // Settings lists them, with the reason one does not work.
    await page.click("#nav-settings");
    await expect.poll(() => page.textContent("#shortcuts")).toContain("Ctrl+Alt+R");
    expect(await page.textContent("#shortcuts [data-action=bookmark]")).toContain("another app may be using it");
  });
});

describe("closing the window while recording", () => {
  it("asks first; keeping on records on, stopping saves and then closes", async () => {
    await startRecording("Closing");
    await page.evaluate(() => window.harness.closeRequested());
    await page.waitForSelector("#close-guard[open]");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("keep-recording");
    await page.screenshot({ path: join(shots, "close-guard.png") });
    await page.click("#keep-recording");
    await expect.poll(() => page.isVisible("#close-guard")).toBe(false);
    expect(await calls("stop_recording")).toHaveLength(0);
    expect(await page.isVisible("#stop")).toBe(true);

    await page.evaluate(() => window.harness.closeRequested());
    await page.click("#stop-and-close");
    await expect.poll(async () => (await calls("plugin:window|destroy")).length).toBe(1);
    const order = await page.evaluate(() => window.harness.calls.map((c) => c.cmd).filter((c) => c === "stop_recording" || c === "plugin:window|destroy"));
    expect(order).toEqual(["stop_recording", "plugin:window|destroy"]);
  });

  it("closes without asking once a stop already saving is done", async () => {
    await startRecording("Closing while saving");
    await page.evaluate(() => window.harness.holdStop());
    await page.click("#stop");
    await expect.poll(() => page.textContent("#stop")).toBe("Saving…");
    // The shell asked before it knew of the stop (it had not reached it yet).
    await page.evaluate(() => window.harness.closeRequested());
    await page.waitForTimeout(300);
    expect(await page.isVisible("#close-guard")).toBe(false);
    expect(await calls("plugin:window|destroy")).toHaveLength(0);
    await page.evaluate(() => window.harness.releaseStop());
    await expect.poll(async () => (await calls("plugin:window|destroy")).length).toBe(1);
    expect(await calls("stop_recording")).toHaveLength(1);
  });

  it("does not close when the recording cannot be stopped, and says why", async () => {
    await startRecording("Stuck");
    await page.evaluate(() => window.harness.fail("stop_recording", { kind: "store", message: "the disk is full: free some space" }));
    await page.evaluate(() => window.harness.closeRequested());
    await page.click("#stop-and-close");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("The recording was not stopped: the disk is full");
    expect(await calls("plugin:window|destroy")).toHaveLength(0);
  });
});

describe("hark:// links", () => {
  it("shows an admin's connect link and connects only when the recruiter confirms", async () => {
    await page.waitForSelector("#use-local-only");
    await page.evaluate(() =>
      window.harness.openLink({ link: { kind: "connect", proxy_url: "https://proxy.acme.example/v1", supabase_url: "https://abc.supabase.co", supabase_anon_key: "sb_publishable_0123456789abcdef" }, problem: null }),
    );
    await page.waitForSelector("#link-dialog[open]");
    expect(await page.textContent("#link-proxy")).toBe("https://proxy.acme.example/v1");
    expect(await page.textContent("#link-project")).toBe("https://abc.supabase.co");
    // The key is not shown whole.
    expect(await page.textContent("#link-key")).toBe("sb_publishable_0…");
    expect(await calls("connect_organisation")).toHaveLength(0);
    await page.click("#link-cancel");
    expect(await page.isVisible("#link-dialog")).toBe(false);
    expect(await calls("connect_organisation")).toHaveLength(0);
    // Opened again and confirmed: exactly the link's settings are saved.
    await page.evaluate(() =>
      window.harness.openLink({ link: { kind: "connect", proxy_url: null, supabase_url: "https://abc.supabase.co", supabase_anon_key: "k" }, problem: null }),
    );
    await page.waitForSelector("#link-dialog[open]");
    expect(await page.textContent("#link-proxy")).toContain("none");
    await page.click("#link-connect");
    expect(await calls("connect_organisation")).toEqual([{ connection: { proxy_url: "", supabase_url: "https://abc.supabase.co", supabase_anon_key: "k" } }]);
  });

  it("says why a link cannot be used", async () => {
    await page.waitForSelector("#use-local-only");
    await page.evaluate(() => window.harness.openLink({ link: null, problem: "this link cannot be used: Hark does not know \"wipe\" links; ask your admin to send it again" }));
    await expect.poll(() => page.textContent("[role=alert]")).toContain("does not know \"wipe\" links");
    expect(await page.isVisible("#link-dialog")).toBe(false);
  });
});

describe("after recording", () => {
  it("finds the session by searching its words and exports it", async () => {
    await startRecording("Searchable");
    await emit({ type: "final", source: "microphone", segment: segment("x", 0, "four five six") });
    await page.click("#stop");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Saved: 0:12 recorded, 1 segment transcribed.");
    await page.click("#nav-library");
    await page.waitForSelector("#sessions");
    expect(await page.textContent("#sessions")).toContain("Searchable");
    await page.fill("#search", "five");
    await page.waitForSelector("#search-results mark");
    expect(await page.textContent("#search-results mark")).toBe("five");
    await page.screenshot({ path: join(shots, "library-search.png") });
    await page.click("#search-results .hit");
    await page.waitForSelector("#session-title");
    expect(await page.textContent("#consent-record")).toContain("Recording notice confirmed");
    await page.click("#export-md");
    await expect.poll(() => page.textContent("#export-text")).toContain("four five six");
    await page.screenshot({ path: join(shots, "session-export.png") });
    // Saved to a file the recruiter picks: the previewed format, or a Word document.
    await page.click("#save-export");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Saved to /home/test/Documents/Searchable.md");
    await page.click("#save-docx");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Searchable.docx");
    expect((await calls("save_export")).map((c) => c.format)).toEqual(["md", "docx"]);
  });

  it("plays the recording from a line's time, shows the line heard, and pauses", async () => {
    await startRecording("Playable");
    await emit({ type: "final", source: "microphone", segment: segment("p1", 0, "first answer") });
    await emit({ type: "final", source: "microphone", segment: segment("p2", 5_000, "second answer") });
    await page.click("#stop");
    await page.click("#nav-library");
    await page.click("#sessions button.link");
    await page.waitForSelector("#session-title");
    expect(await page.textContent("#play-toggle")).toBe("Play");
    expect(await page.textContent("#playback-time")).toBe("0:00 / 0:12");
    // The second line's time plays from its start.
    await page.click("[data-segment=p2] .seek");
    expect((await calls("play_recording")).at(-1)).toEqual({ sessionId: expect.any(String), fromMs: 5_000 });
    await expect.poll(() => page.getAttribute("[data-segment=p2]", "aria-current")).toBe("true");
    expect(await page.getAttribute("[data-segment=p1]", "aria-current")).toBeNull();
    expect(await page.textContent("#play-toggle")).toBe("Pause");
    expect(await page.textContent("#playback-time")).toBe("0:05 / 0:12");
    // The position is followed while playing: in the pause after the line, no line is marked.
    await page.evaluate(() => window.harness.playbackAt(7_200));
    await expect.poll(() => page.textContent("#playback-time")).toBe("0:07 / 0:12");
    expect(await page.locator("[aria-current=true]").count()).toBe(0);
    await page.screenshot({ path: join(shots, "session-playback.png") });
    await page.click("#play-toggle");
    await expect.poll(() => page.textContent("#play-toggle")).toBe("Play");
    // Play again resumes where it paused (no position given); leaving the session pauses it.
    await page.click("#play-toggle");
    expect((await calls("play_recording")).at(-1)).toMatchObject({ fromMs: null });
    const pausesBefore = (await calls("pause_playback")).length;
    await page.click("text=← Library");
    await expect.poll(async () => (await calls("pause_playback")).length).toBe(pausesBefore + 1);
    // A playback that fails says why.
    await page.click("#sessions button.link");
    await page.evaluate(() => window.harness.fail("play_recording", { kind: "recorder", message: "stop the recording before playing one back" }));
    await page.click("[data-segment=p1] .seek");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("Stop the recording before playing one back");
  });

  it("shows what the live transcript missed, and its transcript once back-fill brings it", async () => {
    await startRecording("Went offline");
    await emit({ type: "final", source: "microphone", segment: segment("b1", 0, "before the outage") });
    const gap: Segment = { ...segment("gap", 4_000, ""), end_ms: 9_000, status: "failed" };
    await emit({ type: "failed", source: "microphone", segment: gap, message: "no live transcript here" });
    await page.click("#stop");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("1 segment transcribed. The 0:05 the live transcript missed follows once transcribed.");
    await page.click("#nav-library");
    await page.click("#sessions button.link");
    await page.waitForSelector("#session-title");
    await expect.poll(() => page.textContent("[data-segment=gap]")).toContain("missed by the live transcript");
    const sessionId = await page.evaluate(() => window.harness.calls.filter((c) => c.cmd === "session_detail").at(-1)!.args.id as string);
    await page.evaluate(
      ([id, filled]) => window.harness.backfill(id, filled),
      [sessionId, [{ ...segment("gap", 4_300, "said while offline"), status: "backfilled" }]] as [string, Segment[]],
    );
    await expect.poll(() => page.textContent("[data-segment=gap]")).toContain("said while offline");
    expect(await page.textContent("[data-segment=gap] .later")).toBe("transcribed afterwards");
    expect(await page.locator("[data-segment=b1] .later").count()).toBe(0);
    // Another session's back-fill leaves this one as it is.
    const reads = (await calls("session_detail")).length;
    await page.evaluate(() => window.harness.backfill("another-session", []));
    await page.waitForTimeout(300);
    expect((await calls("session_detail")).length).toBe(reads);
  });

  it("shows a 2-hour session a screenful at a time, down to its last line, which can be corrected", async () => {
    await startRecording("Long session");
    await page.evaluate(async (seg) => {
      for (let n = 0; n < 1_800; n++) {
        await window.harness.emit({ type: "final", source: "microphone", segment: { ...seg, id: `s${n}`, item_id: `item_s${n}`, start_ms: n * 4_000, end_ms: n * 4_000 + 3_000, text: `answer number ${n}` } });
      }
    }, segment("template", 0, ""));
    await page.click("#stop");
    await page.click("#nav-library");
    await page.click("#sessions button.link");
    await page.waitForSelector("#session-transcript .line");
    const rendered = await page.locator("#session-transcript .line").count();
    expect(rendered).toBeGreaterThan(3);
    expect(rendered).toBeLessThan(80);
    expect(await page.locator("#session-transcript .line").first().textContent()).toContain("answer number 0");
    // The transcript starts below the rest of the session, not over it.
    const [transcriptTop, exportsBottom] = await page.evaluate(() => [
      document.querySelector("#session-transcript .line")!.getBoundingClientRect().top,
      document.querySelector(".exports")!.getBoundingClientRect().bottom,
    ]);
    expect(transcriptTop).toBeGreaterThan(exportsBottom);

    // Tab goes from line to line past the first screenful (two stops a line: its time and Edit).
    await page.focus("[data-segment=s0] .seek");
    for (let i = 0; i < 120; i++) await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.closest("[data-segment]")?.getAttribute("data-segment"))).toBe("s60");
    expect(await page.evaluate(() => document.activeElement!.getBoundingClientRect().bottom <= window.innerHeight)).toBe(true);

    // Scrolling the page to its end brings the last lines, in order and without overlap.
    await page.evaluate(() => document.querySelector("main")!.scrollTo({ top: 1e9 }));
    await expect.poll(() => page.locator("#session-transcript .line").last().textContent()).toContain("answer number 1799");
    const order = await page.evaluate(() => {
      const shown = [...document.querySelectorAll("#session-transcript .line")];
      const boxes = shown.map((l) => l.getBoundingClientRect());
      return {
        overlaps: boxes.slice(1).filter((b, i) => Math.abs(b.top - boxes[i].bottom) > 1).length,
        numbers: shown.map((l) => Number(l.querySelector(".text")!.textContent!.match(/answer number (\d+)/)![1])),
      };
    });
    expect(order.overlaps).toBe(0);
    expect(order.numbers).toEqual([...order.numbers].sort((a, b) => a - b));
    expect(await page.isVisible("[data-segment=s1799]")).toBe(true);

    await page.click("[data-segment=s1798] .edit-line");
    await page.fill("[data-segment=s1798] input", "the second-to-last answer, corrected");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.textContent("[data-segment=s1798]")).toContain("the second-to-last answer, corrected");
    expect(await calls("edit_segment")).toEqual([{ segmentId: "s1798", text: "the second-to-last answer, corrected" }]);
    await page.screenshot({ path: join(shots, "session-2-hour-end.png") });

    // A search hit deep in the session opens the session at that line, outlined.
    await page.click("text=← Library");
    await page.fill("#search", "answer number 1234");
    await page.waitForSelector("#search-results .hit");
    expect(await page.locator("#search-results .hit").count()).toBe(1);
    expect(await page.textContent("#search-results .hit .meta")).toMatch(/\d{4}/);
    await page.click("#search-results .hit");
    await page.waitForSelector("[data-segment=s1234].found");
    const hit = await page.evaluate(() => document.querySelector("[data-segment=s1234]")!.getBoundingClientRect());
    expect(hit.top).toBeGreaterThanOrEqual(0);
    expect(hit.bottom).toBeLessThanOrEqual(await page.evaluate(() => window.innerHeight));
    expect(await page.locator(".line.found").count()).toBe(1);
    await page.screenshot({ path: join(shots, "session-search-hit.png") });
  });

  it("corrects a line, names the speaker, and deletes the session after asking", async () => {
    await startRecording("Editable");
    await emit({ type: "final", source: "microphone", segment: segment("e1", 0, "we use rust daly") });
    await page.click("#stop");
    await page.click("#nav-library");
    await page.click("#sessions button.link");
    await page.waitForSelector("#session-title");

    await page.click("#session-transcript .edit-line");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Segment text");
    // A correction half typed survives going to another screen and back.
    await page.fill("[aria-label='Segment text']", "we use Rust da");
    await page.click("#nav-library");
    await page.click("#sessions button.link");
    await page.waitForSelector("#session-title");
    expect(await page.inputValue("[aria-label='Segment text']")).toBe("we use Rust da");
    expect(await calls("edit_segment")).toHaveLength(0);
    await page.fill("[aria-label='Segment text']", "   ");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.textContent("[role=alert]")).toContain("a segment cannot be emptied");
    await page.fill("[aria-label='Segment text']", "we use Rust daily");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.textContent("#session-transcript")).toContain("we use Rust daily");
    expect(await calls("edit_segment")).toContainEqual({ segmentId: "e1", text: "we use Rust daily" });

    await page.click("#rename-microphone");
    await page.fill("#speaker-name-microphone", "Grace (recruiter)");
    await page.click("#save-speaker-microphone");
    await expect.poll(() => page.textContent("#session-transcript .speaker")).toBe("Grace (recruiter)");
    expect(await page.textContent("#rename-microphone")).toContain("Grace (recruiter)");

    await page.click("#delete-session");
    await page.waitForSelector("#confirm-delete[open]");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Keep it");
    await page.click("#confirm-delete-button");
    await page.waitForSelector("#library-title");
    await expect.poll(() => page.textContent("main")).toContain("No sessions yet");
  });
});
