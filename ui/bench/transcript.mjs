// Benchmark: frame times of the record screen while new segments arrive (a final every second,
// a partial every 100 ms, levels at 10/s), first beside a short transcript (the baseline, 20
// lines), then with a 2-hour one (1,800 lines), in the same run. The real UI with the mocked IPC
// of the flow tests (tests/browser/harness.ts), in Debian's headless Chromium
// (`npm run bench:transcript`) or in WebKitGTK, the engine of the Linux app
// (`npm run bench:transcript:webkit`, MiniBrowser through WebKitWebDriver, inside
// `cargo xtask stack` for its display). Figures only, no pass/fail.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createServer } from "vite";
import { launchWebKit } from "./webkit.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.HARK_BENCH_SECONDS ?? 15);

const server = await createServer({ root, configFile: join(root, "vite.config.ts"), server: { port: 0, host: "127.0.0.1" }, logLevel: "error" });
await server.listen();
const WEBKIT = process.argv.includes("--webkit");
// Playwright's page, or WebKitGTK's through WebDriver, with the same `goto` and `evaluate`.
const browser = WEBKIT
  ? await launchWebKit()
  : await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-precise-memory-info"],
    });

try {
  const page = await browser.newPage({ viewport: { width: 1120, height: 760 } });
  await page.goto(`${server.resolvedUrls.local[0]}tests/browser/harness.html`);
  // Through the DOM, as a recruiter's clicks would (the same in both engines).
  await page.evaluate(async () => {
    const until = async (css) => {
      while (!document.querySelector(css)) await new Promise((resolve) => setTimeout(resolve, 20));
      return document.querySelector(css);
    };
    (await until("#use-local-only")).click();
    const interview = await until("#interview");
    interview.value = "Benchmark";
    interview.dispatchEvent(new Event("input", { bubbles: true }));
    await until("#microphone option[value='pulse:virtual_mic']");
    const microphone = document.querySelector("#microphone");
    microphone.value = "pulse:virtual_mic";
    microphone.dispatchEvent(new Event("input", { bubbles: true }));
    microphone.dispatchEvent(new Event("change", { bubbles: true }));
    (await until("#consent")).click();
    (await until("#record:not([disabled])")).click();
    await until("#stop");
  });

  // Sentences of interview length; one line every 4 s of recording.
  await page.evaluate(() => {
    window.benchLine = (n) => ({
      type: "final",
      source: n % 3 === 0 ? "system" : "microphone",
      segment: {
        id: `seg-${n}`,
        session_id: "session-1",
        item_id: `item_${n}`,
        source: n % 3 === 0 ? "system" : "microphone",
        speaker_label: null,
        start_ms: n * 4_000,
        end_ms: n * 4_000 + 3_500,
        text: `Answer ${n}: we moved the billing service to Rust last spring, and the on-call load dropped by half within a quarter.`,
        status: "final",
      },
    });
  });
  const fill = (from, to) =>
    page.evaluate(
      async ([from, to]) => {
        for (let n = from; n < to; n++) await window.harness.emit(window.benchLine(n));
      },
      [from, to],
    );

  const measure = (first) =>
    page.evaluate(
      async ([first, seconds]) => {
        const frames = [];
        const shown = [];
        let last = performance.now();
        let running = true;
        const tick = (t) => {
          frames.push(t - last);
          last = t;
          if (running) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
        const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        const end = performance.now() + seconds * 1000;
        let n = first;
        let step = 0;
        while (performance.now() < end) {
          step++;
          await window.harness.emit({ type: "audio", event: { type: "level", source: 0, rms_dbfs: -30 + (step % 7), peak_dbfs: -12 } });
          if (step % 10 === 0) {
            const started = performance.now();
            await window.harness.emit(window.benchLine(n++));
            await nextFrame();
            shown.push(performance.now() - started);
          } else {
            await window.harness.emit({ type: "partial", source: "microphone", item_id: `item_${n}`, text: `we moved the billing service ${step}` });
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        running = false;
        const sorted = (values) => [...values].sort((a, b) => a - b);
        const pct = (values, p) => sorted(values)[Math.min(values.length - 1, Math.floor(values.length * p))];
        return {
          frames: frames.length,
          p50: pct(frames, 0.5),
          p95: pct(frames, 0.95),
          p99: pct(frames, 0.99),
          max: Math.max(...frames),
          over50: frames.filter((f) => f > 50).length,
          shownP50: pct(shown, 0.5),
          shownMax: Math.max(...shown),
          lines: document.querySelectorAll("#transcript .line").length,
          heapMiB: performance.memory ? performance.memory.usedJSHeapSize / 2 ** 20 : null,
        };
      },
      [first, SECONDS],
    );

  const report = (name, r) =>
    console.log(
      `  ${name}: ${r.lines} lines; frame interval p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)}, p99 ${r.p99.toFixed(1)}, max ${r.max.toFixed(1)} (${r.over50} of ${r.frames} frames over 50 ms); a new final on screen in p50 ${r.shownP50.toFixed(1)} ms, max ${r.shownMax.toFixed(1)}; JS heap ${r.heapMiB === null ? "not reported by this engine" : `${r.heapMiB.toFixed(1)} MiB`}`,
    );

  console.log(`transcript: ${WEBKIT ? "WebKitGTK (MiniBrowser, Xvfb, no GPU)" : "headless Chromium"}, ${SECONDS} s of live updates each (a final per second, partials and levels at 10/s)`);
  await fill(0, 20);
  report("baseline, 20-line transcript", await measure(20));
  const started = performance.now();
  await fill(40, 1_800);
  console.log(`  (1,760 more finals added in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  report("2-hour transcript", await measure(1_800));
} finally {
  await browser.close();
  await server.close();
}
