// src/tiering.ts raises V8's --interrupt-budget through v8.setFlagsFromString: a V8 flag, not a Node
// API, so this fails when a Node or V8 upgrade renames it or stops honouring it at run time. The budget
// must still cut the run's optimizing compiles (functions run once per batch, many batches here) and the
// command must print no flag warning.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
const SAMPLE = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
const tmp = mkdtempSync(join(tmpdir(), "ridepred-tiering-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** TurboFan compiles in a score run of the sample in batches of 4 rows, with these node flags. */
function compiles(nodeFlags: string[]): { count: number; stderr: string } {
  const args = [...nodeFlags, join(ROOT, "bin/ridepred"), "score", SAMPLE, "-o", join(tmp, "out.csv"), "--batch-size", "4"];
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 1 << 26 });
  expect(r.status, r.stderr).toBe(0);
  return { count: (r.stdout.match(/completed compiling/g) ?? []).length, stderr: r.stderr };
}

describe("V8's tier-up budget (src/tiering.ts)", () => {
  it("bin/ridepred runs with four times V8's default budget: far fewer TurboFan compiles than at the default", () => {
    const tuned = compiles(["--trace-opt"]);
    const atDefault = compiles(["--trace-opt", "--interrupt-budget=67584"]); // node's own flag wins over ours
    expect(atDefault.count).toBeGreaterThan(10);
    expect(tuned.count).toBeLessThan(atDefault.count * 0.7);
  });

  it("sets it without a word on stderr", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), "--version"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
  });
});
