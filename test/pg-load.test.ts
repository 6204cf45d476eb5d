// src/io/pg-connect.ts loads pg with a stand-in global navigator so that pg skips its Cloudflare Workers
// probe (which loads Node's bundled undici). That leans on pg's load-time behaviour: these cases fail when
// a pg upgrade changes it, so the shim is revisited instead of silently doing nothing (or something else).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");

function loadedIn(script: string): { undici: boolean; navigator: string; client: string } {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
  return JSON.parse(out);
}

const report = `process.stdout.write(JSON.stringify({ undici: process.moduleLoadList.some((m) => /undici/.test(m)), navigator: typeof globalThis.navigator, client: typeof pg?.Client }))`;

describe("pg's load-time probe (the shim in src/io/pg-connect.ts)", () => {
  it.skipIf(typeof (globalThis as { navigator?: unknown }).navigator !== "undefined")(
    "plain pg on this Node still loads undici at load (the probe the shim avoids is still there)",
    () => {
      const r = loadedIn(`import { createRequire } from "node:module"; const pg = createRequire(process.cwd() + "/")("pg"); ${report}`);
      expect(r).toEqual({ undici: true, navigator: "undefined", client: "function" });
    },
  );

  it("through pg-connect, pg loads without undici and leaves no global navigator behind", () => {
    const r = loadedIn(
      `await import("./dist/io/pg-connect.js"); import { createRequire } from "node:module"; const pg = createRequire(process.cwd() + "/")("pg"); ${report}`,
    );
    expect(r).toEqual({ undici: false, navigator: "undefined", client: "function" });
  });
});
