// Which XGBoost format a file holds, from its bytes alone: ".xgb" is the legacy binary format before
// XGBoost 2.1 and UBJSON since, and ".bin"/".model"/".json" files are named freely.
//   JSON text      '{' then whitespace or '"' (or '}')
//   UBJSON         '{' then a key-length marker (i U I l L), '$', '#' or '}'
//   snapshot 1.0-1.5 (pickled Booster.handle)  "CONFIG-offset:" + i64 + legacy binary + JSON config
//   legacy binary  optional "binf", then the 136-byte learner parameters and the objective's name

import { readLegacyBinary } from "./binary.js";
import { boosterFromDocument } from "./json.js";
import { boosterFail, BoosterError, type RawBooster } from "./model.js";
import { parseUbjson, UbjsonError } from "./ubjson.js";

export type BoosterFormat = "json" | "ubjson" | "legacy binary" | "config-offset snapshot";

const SNAPSHOT = "CONFIG-offset:";

export function detectFormat(bytes: Uint8Array): BoosterFormat | null {
  if (bytes.length < 2) return null;
  if (bytes[0] === 0x7b /* { */) {
    let i = 1;
    while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
    const c = String.fromCharCode(bytes[i] ?? 0);
    if (c === '"' || (c === "}" && i > 1)) return "json";
    if ("iUIlL$#}".includes(c)) return "ubjson";
    return null;
  }
  if (startsWith(bytes, SNAPSHOT)) return "config-offset snapshot";
  if (startsWith(bytes, "binf")) return "legacy binary";
  // No header: the objective's name follows the 136-byte parameters as a u64 length and letters.
  if (bytes.length > 144) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getBigUint64(136, true);
    if (n > 0n && n < 64n && bytes.length >= 144 + Number(n)) {
      const name = String.fromCharCode(...bytes.subarray(144, 144 + Number(n)));
      if (/^[a-z]+:[a-z_]+$/.test(name)) return "legacy binary";
    }
  }
  return null;
}

function startsWith(bytes: Uint8Array, s: string): boolean {
  if (bytes.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (bytes[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** A booster from the bytes of a saved model or a pickled memory snapshot. Throws BoosterError. */
export function readBooster(bytes: Uint8Array): RawBooster {
  const format = detectFormat(bytes);
  try {
    switch (format) {
      case "json": {
        let doc: unknown;
        try {
          doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
        } catch (e) {
          return boosterFail(`not valid JSON: ${(e as Error).message}`);
        }
        return boosterFromDocument(doc as never, "json");
      }
      case "ubjson":
        return boosterFromDocument(parseUbjson(bytes), "ubjson");
      case "legacy binary":
        return readLegacyBinary(bytes);
      case "config-offset snapshot": {
        if (bytes.length < SNAPSHOT.length + 8) boosterFail("truncated memory snapshot header");
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const offset = view.getBigInt64(SNAPSHOT.length, true);
        const start = SNAPSHOT.length + 8;
        if (offset <= 0n || offset > BigInt(bytes.length - start))
          boosterFail(`memory snapshot declares a ${offset}-byte model in a ${bytes.length}-byte file`);
        return readLegacyBinary(bytes.subarray(start, start + Number(offset)), "legacy binary memory snapshot");
      }
    }
  } catch (e) {
    if (e instanceof UbjsonError) return boosterFail(`not valid UBJSON: ${e.message}`);
    if (e instanceof BoosterError) throw e;
    if (e instanceof RangeError) return boosterFail(`cannot read this booster (${e.message})`);
    throw e;
  }
  return boosterFail("not an XGBoost model: neither JSON, UBJSON nor XGBoost's binary format");
}
