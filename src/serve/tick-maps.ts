// Keeps the maps of node's tick objects alive for the life of the process.
//
// process.nextTick builds every tick as an object literal with computed keys (node 20's
// lib/internal/process/task_queues.js: {[async_id_symbol]: asyncId, [trigger_async_id_symbol]: triggerAsyncId,
// callback, args}). V8 remembers, for each property of such a literal, the one map the object had before it
// (held weakly), and on any other map marks that property megamorphic for good: from then on every nextTick
// defines its properties in V8's runtime, and node's streams and http call nextTick several times per request.
// Tick objects live a few microseconds, so a full GC that runs while none is queued (module loading and the
// model make one likely at start-up) collects their maps; the next tick builds new ones and the literal goes
// megamorphic. One object of the same shape, held here, keeps those maps, and with them the literal's
// feedback, alive. test/serve-tick-maps.test.ts checks both the shape and the effect on this node.
import { AsyncResource } from "node:async_hooks";

let held: object | undefined;

/**
 * Holds one object with the tick objects' map; returns it (undefined when this node's async id symbols are not
 * found: there is then nothing known to hold). Call it before the server loads its modules.
 */
export function holdTickObjectMaps(): object | undefined {
  if (held) return held;
  // node gives its AsyncResource the same two per-isolate symbols its tick objects are keyed by.
  const symbols = Object.getOwnPropertySymbols(new AsyncResource("ridepred"));
  const asyncId = symbols.find((s) => s.description === "async_id_symbol");
  const triggerId = symbols.find((s) => s.description === "trigger_async_id_symbol");
  if (asyncId === undefined || triggerId === undefined) return undefined;
  const callback = () => {};
  // A real tick first, so that the maps (and their field representations) are node's own; the small integers
  // below fit whatever representation node's ids gave the two id fields, so this object only follows them.
  process.nextTick(callback);
  held = { [asyncId]: 0, [triggerId]: 0, callback, args: undefined };
  return held;
}
