// Reading a fitted object's pickled state: its __dict__, one attribute, its short class name.

import { sklearnClassName } from "./allowlist.js";
import type { PyObject, PyValue } from "./pickle.js";
import { describe } from "./pickle.js";

type Fail = (message: string) => never;

/** The object's __dict__ state as a Map (sklearn objects pickle a dict state). */
export function stateOf(obj: PyObject, fail: Fail): Map<PyValue, PyValue> {
  if (obj.state instanceof Map) return obj.state;
  // A (dict, slotstate) pair, as objects with __slots__ pickle.
  if (Array.isArray(obj.state) && obj.state[0] instanceof Map) return obj.state[0];
  return fail(`${obj.$class} has no attribute state (got ${describe(obj.state)})`);
}

export function attr(obj: PyObject, name: string, fail: Fail): PyValue {
  const st = stateOf(obj, fail);
  if (!st.has(name)) fail(`${shortName(obj)} has no ${name}: it was pickled before fit(), or by an unsupported version`);
  return st.get(name)!;
}

export const shortName = (obj: PyObject) => sklearnClassName(obj.$class) ?? obj.$class;
