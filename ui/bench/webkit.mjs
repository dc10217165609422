// WebKitGTK as a benchmark page: Debian's WebKitWebDriver driving MiniBrowser (the same WebKitGTK
// the Hark window embeds on Linux), with the two calls the transcript bench makes, `goto` and
// `evaluate` (a function run in the page, its result returned). Needs a display (the test
// stack's Xvfb).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer } from "node:net";

const MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const listening = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
    socket.on("error", () => resolve(false));
  });

/** Starts WebKitWebDriver and a MiniBrowser session; `{ newPage, close }` like Playwright's. */
export async function launchWebKit() {
  const binary = process.env.MINIBROWSER ?? MINIBROWSER;
  if (!existsSync(binary)) throw new Error(`${binary} is missing: it comes with Debian's libwebkit2gtk-4.1-0 (or set MINIBROWSER)`);
  if (!process.env.DISPLAY) throw new Error("DISPLAY is not set: run inside `cargo xtask stack` and export what it prints");
  const port = await freePort();
  const driver = spawn("WebKitWebDriver", [`--port=${port}`], { stdio: "ignore" });
  const deadline = Date.now() + 20_000;
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const request = async (method, path, body) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok || json.value?.error) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(json.value)}`);
    return json.value;
  };
  const { sessionId } = await request("POST", "/session", {
    capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { binary, args: ["--automation"] } } },
  });
  const at = `/session/${sessionId}`;
  // The bench's scripts run for minutes.
  await request("POST", `${at}/timeouts`, { script: 30 * 60_000 });
  await request("POST", `${at}/window/rect`, { width: 1120, height: 760 }).catch(() => {});
  const page = {
    goto: (url) => request("POST", `${at}/url`, { url }),
    evaluate: async (fn, arg) => {
      const script = `const done = arguments[arguments.length - 1];
        Promise.resolve((${fn.toString()})(arguments[0])).then((value) => done({ value }), (err) => done({ error: String((err && err.stack) || err) }));`;
      const result = await request("POST", `${at}/execute/async`, { script, args: [arg ?? null] });
      if (result.error) throw new Error(result.error);
      return result.value;
    },
  };
  return {
    newPage: async () => page,
    close: async () => {
      await request("DELETE", at).catch(() => {});
      driver.kill();
    },
  };
}
