// src/serve/tick-maps.ts against this node: the object it holds has the map of node's tick objects, and holding
// it keeps process.nextTick's tick object literal monomorphic through a full GC that runs while no tick is
// queued; without it that GC turns the literal megamorphic. Both run in a child node with V8's natives syntax
// (%HaveSameMap, %DebugPrint of nextTick's feedback), so a node whose tick objects change shape, or whose V8
// no longer loses the literal's feedback, fails here.
import { spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const MODULE = pathToFileURL(join(ROOT, "dist/serve/tick-maps.js")).href;
const dir = mkdtempSync(join(tmpdir(), "tick-maps-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The child: optionally hold the maps, tick, let the queue drain, collect everything (gc() is a full GC), tick
// again, then catch one real tick object (async_hooks' init) to compare maps, and print nextTick's feedback.
const CHILD = `
import { createHook } from "node:async_hooks";
const { holdTickObjectMaps } = await import(${JSON.stringify(MODULE)});
const held = process.argv.includes("hold") ? holdTickObjectMaps() : undefined;
const ticks = (n) => { for (let i = 0; i < n; i++) process.nextTick(() => {}); };
const drained = () => new Promise((r) => setTimeout(r, 10));
ticks(100);
await drained();
gc();
ticks(100);
await drained();
let tick;
const hook = createHook({ init(id, type, trigger, resource) { if (type === "TickObject") tick ??= resource; } }).enable();
process.nextTick(() => {});
hook.disable();
const sameMap = held === undefined ? null : new Function("a", "b", "return %HaveSameMap(a, b)")(held, tick);
new Function("%DebugPrint(process.nextTick)")();
process.stdout.write("\\n" + JSON.stringify({ held: held !== undefined, sameMap }) + "\\n");
`;

/** The child's verdict: whether it held an object, whether that had a tick's map, the literal's four states. */
function child(hold: boolean): { held: boolean; sameMap: boolean | null; states: string[] } {
  // %DebugPrint writes to C's stdout, which loses data on a non-blocking pipe: a file takes it whole.
  const out = join(dir, hold ? "hold" : "control");
  const fd = openSync(out, "w");
  const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--expose-gc", "--input-type=module", "-e", CHILD, ...(hold ? ["hold"] : [])], {
    stdio: ["ignore", fd, "pipe"],
    encoding: "utf8",
  });
  closeSync(fd);
  expect(r.status, r.stderr).toBe(0);
  const text = readFileSync(out, "utf8");
  const states = [...text.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]);
  const last = text.trim().split("\n").at(-1)!;
  return { ...(JSON.parse(last) as { held: boolean; sameMap: boolean | null }), states };
}

describe("holding node's tick object maps", () => {
  it("holds an object with the map of node's tick objects, and the tick literal stays monomorphic through a full GC", () => {
    const r = child(true);
    expect(r.held).toBe(true);
    expect(r.sameMap).toBe(true);
    expect(r.states).toEqual(["MONOMORPHIC", "MONOMORPHIC", "MONOMORPHIC", "MONOMORPHIC"]);
  });

  it("without it, the same full GC turns the tick literal megamorphic on this node (else the hold may be dropped)", () => {
    const r = child(false);
    expect(r.states).toHaveLength(4);
    expect(r.states).toContain("MEGAMORPHIC");
  });
});
