import { readFileSync, writeFileSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fileError, RidepredError } from "../errors.js";
import { computeDigest } from "./digest.js";
import type { ModelArtifact } from "./types.js";
import { validateArtifact } from "./validate.js";

/** The bundled model, used when a command is given no --model (override with RIDEPRED_MODEL). */
export const BUNDLED_MODEL = fileURLToPath(new URL("../../models/ride-duration.json", import.meta.url));

export function defaultModelPath(): string {
  return process.env.RIDEPRED_MODEL || BUNDLED_MODEL;
}

/** Parse a model.json without judging it: verify wants to report on broken files, not just refuse them. */
export function readArtifactJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(path, "cannot read model", e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RidepredError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/** Read, validate and digest-check a model.json; any defect is an error naming the file and the field. */
export function readArtifact(path: string): ModelArtifact {
  const doc = readArtifactJson(path);
  const problems = validateArtifact(doc);
  if (problems.length) {
    const list = problems
      .slice(0, 5)
      .map((p) => `${p.path}: ${p.reason}`)
      .join("; ");
    throw new RidepredError(`${path}: not a valid ridepred model: ${list}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ""}`);
  }
  const artifact = doc as ModelArtifact;
  const actual = computeDigest(artifact);
  if (actual !== artifact.digest) {
    throw new RidepredError(`${path}: digest mismatch: the file says ${artifact.digest} but its content hashes to ${actual} (edited or corrupted)`, 1);
  }
  return artifact;
}

/** Serialise with a fresh digest. */
export function serializeArtifact(artifact: Omit<ModelArtifact, "digest">): string {
  const withDigest = { ...artifact, digest: computeDigest(artifact) } as ModelArtifact;
  return JSON.stringify(withDigest, null, 1) + "\n";
}

/** Write to a temporary name and rename, so a reader never sees half a model. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fileError(path, "cannot write", e, 1);
  }
}
