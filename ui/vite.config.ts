// Vite builds the UI into dist/, which Tauri embeds; Vitest runs the unit tests (node) and the
// flow tests (headless Chromium through playwright-core against a mocked IPC).
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  server: { strictPort: false },
  // Pre-bundled up front: a dependency discovered mid-test would make the dev server reload the
  // page under the flow tests.
  optimizeDeps: {
    include: ["preact", "preact/hooks", "preact/compat", "preact/jsx-runtime", "@preact/signals", "@tauri-apps/api/core", "@tauri-apps/api/event", "@tauri-apps/api/window", "@tauri-apps/api/mocks"],
  },
  test: {
    projects: [
      { extends: true, test: { name: "unit", include: ["tests/unit/**/*.test.ts"], environment: "node" } },
      {
        extends: true,
        test: { name: "browser", include: ["tests/browser/**/*.test.ts"], environment: "node", testTimeout: 60_000, hookTimeout: 60_000 },
      },
    ],
  },
});
