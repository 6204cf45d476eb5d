// Every README code block marked "<!-- tested ... -->" runs, line by line, as a user would type it:
// in a scratch directory with the repo's examples/models/test fixtures beside it and `ridepred` on PATH.
// A line may end with "# exits N" to expect that exit code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

/** Tested blocks: the fenced sh block right after a "<!-- tested" comment, joined continuation lines. */
function testedBlocks(): { title: string; lines: string[] }[] {
  const out: { title: string; lines: string[] }[] = [];
  const re = /<!-- tested[^>]*-->\s*\n```sh\n([\s\S]*?)```/g;
  for (const m of readme.matchAll(re)) {
    const before = readme.slice(0, m.index);
    const title = [...before.matchAll(/^## (.*)$/gm)].pop()?.[1] ?? "README";
    const lines = m[1]!
      .replace(/\\\n\s*/g, "")
      .split("\n")
      .filter((l) => l.trim() && !l.trim().startsWith("#"));
    out.push({ title, lines });
  }
  return out;
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "ridepred-readme-"));
  for (const d of ["examples", "models", "test"]) symlinkSync(join(ROOT, d), join(dir, d));
  mkdirSync(join(dir, ".bin"));
  const shim = join(dir, ".bin/ridepred");
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin/ridepred")}" "$@"\n`);
  chmodSync(shim, 0o755);
  return dir;
}

describe("README examples", () => {
  const blocks = testedBlocks();
  it("has tested blocks", () => expect(blocks.length).toBeGreaterThan(0));
  for (const block of blocks) {
    it(`section "${block.title}" runs as written`, () => {
      const dir = scratch();
      for (const line of block.lines) {
        const want = Number(/# exits (\d+)/.exec(line)?.[1] ?? 0);
        const cmd = line.replace(/^npx /, "").replace(/#.*$/, "");
        const r = spawnSync("bash", ["-c", cmd], {
          cwd: dir,
          encoding: "utf8",
          env: { ...process.env, PATH: `${join(dir, ".bin")}:${process.env.PATH}`, NO_COLOR: "1" },
          timeout: 120_000,
        });
        expect({ line, code: r.status, stderr: r.status === want ? "" : r.stderr }).toEqual({ line, code: want, stderr: "" });
      }
    });
  }
});
