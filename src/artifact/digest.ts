import { createHash } from "node:crypto";
import type { ModelArtifact } from "./types.js";

/** JSON with object keys sorted at every level: the same artifact always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) {
    // Arrays of numbers/strings (coefficients, feature names) stringify as one: same text, far faster.
    if (value.every((v) => v === null || typeof v !== "object")) return JSON.stringify(value);
    return "[" + value.map(canonicalJson).join(",") + "]";
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(obj[k])).join(",") + "}";
}

/** sha256 over the canonical form of everything but the digest field itself. */
export function computeDigest(artifact: Omit<ModelArtifact, "digest"> | ModelArtifact): string {
  const { digest: _ignored, ...rest } = artifact as ModelArtifact;
  return "sha256:" + createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
