// A small, seeded mutation fuzzer for model files, shared by test/fuzz.test.ts (bounded, a few seconds)
// and bench/fuzz.mjs (minutes). Each case must end in an artifact that validates and predicts, or in a
// RidepredError about the file: never another exception, a hang, or a crash. Test-only code: it lives
// here, not in src/, and is handed ridepred's modules (the sources in tests, dist/ in the bench).

/** mulberry32: tiny, fast, and the same sequence for the same seed everywhere. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x28, 0x2e, 0x4e, 0x52, 0x62, 0x63, 0x68, 0x71, 0x85, 0x93, 0x94, 0x95];

/** One mutation of `src`: byte flips, interesting bytes, 32-bit length fields, cuts, duplicated or spliced ranges. */
/** @param {Uint8Array} src @param {() => number} rand @param {Uint8Array} [donor] @returns {Uint8Array} */
export function mutate(src, rand, donor) {
  const n = src.length;
  const at = () => Math.floor(rand() * n);
  const out = Uint8Array.from(src);
  switch (Math.floor(rand() * 8)) {
    case 0: {
      for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) out[at()] ^= 1 << Math.floor(rand() * 8);
      return out;
    }
    case 1: {
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) out[at()] = INTERESTING[Math.floor(rand() * INTERESTING.length)];
      return out;
    }
    case 2: {
      // A length or count field made huge, zero or negative.
      const i = Math.min(at(), n - 4);
      const v = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1 << 24][Math.floor(rand() * 5)];
      new DataView(out.buffer).setUint32(Math.max(0, i), v, true);
      return out;
    }
    case 3:
      return src.slice(0, at()); // truncated
    case 4: {
      const i = at();
      const len = Math.floor(rand() * 64);
      return concat(src.subarray(0, i), src.subarray(Math.min(n, i + len))); // a range deleted
    }
    case 5: {
      const i = at();
      const len = 1 + Math.floor(rand() * 256);
      return concat(src.subarray(0, i), src.subarray(i, i + len), src.subarray(i)); // a range repeated
    }
    case 6: {
      const i = at();
      const junk = Uint8Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256));
      return concat(src.subarray(0, i), junk, src.subarray(i));
    }
    default: {
      if (!donor?.length) return out;
      const i = at();
      const j = Math.floor(rand() * donor.length);
      return concat(src.subarray(0, i), donor.subarray(j, j + 1 + Math.floor(rand() * 512)), src.subarray(i));
    }
  }
}

/** @param {...Uint8Array} parts */
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Import mutated bytes; an import must yield a valid, predicting artifact, a refusal must be a RidepredError.
 * @param {(bytes: Uint8Array) => object} importBytes  the importer under test
 * @param {Uint8Array} bytes
 * @param {Record<string, unknown>[]} rides
 * @param {{ validateArtifact: Function, compile: Function, RidepredError: Function, InputError: Function }} ridepred
 * @returns {{ outcome: "imported" | "refused" | "defect", message?: string, ms: number }}
 */
export function runCase(importBytes, bytes, rides, { validateArtifact, compile, RidepredError, InputError }) {
  const t0 = performance.now();
  const ms = () => performance.now() - t0;
  try {
    const artifact = importBytes(bytes);
    const problems = validateArtifact(JSON.parse(JSON.stringify(artifact)));
    if (problems.length) return { outcome: "defect", message: `imported an invalid artifact: ${problems[0].path}: ${problems[0].reason}`, ms: ms() };
    const p = compile(artifact);
    for (const r of rides) {
      try {
        const y = p.predict(r);
        if (typeof y !== "number" || Number.isNaN(y)) return { outcome: "defect", message: `predicted ${y}`, ms: ms() };
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
      }
    }
    return { outcome: "imported", ms: ms() };
  } catch (e) {
    // ridepred's guards turn unexpected exceptions into "cannot read this ..." errors: those are defects to fix.
    if (e instanceof RidepredError && !/cannot read this (file|model|booster) \(/.test(e.message)) return { outcome: "refused", message: e.message, ms: ms() };
    return { outcome: "defect", message: `${e.name}: ${e.message}`, ms: ms() };
  }
}
