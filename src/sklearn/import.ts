// A pickle file -> a ModelArtifact. Reads bytes, never runs them.

import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { computeDigest, sha256Hex } from "../artifact/digest.js";
import type { Example, FeatureField, InputSpec, ModelArtifact, DictVectorizerSpec } from "../artifact/types.js";
import { FORMAT, FORMAT_VERSION } from "../artifact/types.js";
import { fileError, RidepredError } from "../errors.js";
import { VERSION } from "../version.js";
import { makeResolver } from "./allowlist.js";
import { modelParts, type ModelParts } from "./estimators.js";
import { DEFAULT_LIMITS, PickleError, unpickle, type PyValue } from "./pickle.js";
import { decompress } from "./joblib.js";

export interface ImportOptions {
  name?: string;
  version?: string;
  description?: string;
  target?: { name: string; unit?: string };
  /** Stream events' name for the prediction (default "ride_<target>"). */
  eventKey?: string;
  /** Derived category features: NAME -> template such as "{PULocationID}_{DOLocationID}". */
  derive?: Record<string, string>;
  /** Defaults for missing inputs, NAME -> value. */
  defaults?: Record<string, string | number>;
  /** Versions the user states (e.g. from the training environment): python=3.11.2 ... */
  env?: Record<string, string>;
  examples?: Example[];
  examplesSource?: string;
  tolerance?: { relative: number; absolute: number };
  /** Fixed "created" time, for reproducible artifacts. */
  created?: string;
}

export interface LoadedPickle {
  value: PyValue;
  protocol: number;
  globals: string[];
  /** "pickle", or "joblib" when the stream holds joblib's inline arrays. */
  format: "pickle" | "joblib";
  /** joblib compression the file was wrapped in, if any. */
  compression: string | null;
}

const MAX_FILE = DEFAULT_LIMITS.maxBytes;

/** Unpickle (after joblib decompression) with the allow-list; errors name the file. */
export function readPickle(path: string, bytes: Uint8Array): LoadedPickle {
  const globals = new Set<string>();
  const fail = (m: string): never => {
    throw new RidepredError(`${path}: ${m}`, 2);
  };
  const raw = decompress(bytes, MAX_FILE, fail);
  try {
    const { value, protocol } = unpickle(raw.bytes, { resolve: makeResolver(), onGlobal: (g) => globals.add(g) });
    const names = [...globals].sort();
    const joblib = raw.compression !== null || names.some((g) => g.endsWith(".NumpyArrayWrapper"));
    return { value, protocol, globals: names, format: joblib ? "joblib" : "pickle", compression: raw.compression };
  } catch (e) {
    if (e instanceof PickleError) throw new RidepredError(`${path}: ${e.message}`, 2);
    if (e instanceof RidepredError) throw e;
    // Anything else is a defect in ridepred; still report it against the file rather than crash.
    throw new RidepredError(`${path}: cannot read this file (${(e as Error).name}: ${(e as Error).message})`, 2);
  }
}

export interface AuditReport {
  format: string;
  compression: string | null;
  protocol?: number;
  globals: { name: string; allowed: boolean }[];
  /** Why each refused global is refused, by name. */
  risks: Record<string, string>;
  /** Byte offset (in the decompressed stream) where each refused global is first named. */
  offsets: Record<string, number>;
  error?: string;
}

/** Modules whose names in a pickle mean code execution, for the audit's explanation. */
const RISKY =
  /^(os|posix|nt|subprocess|builtins|__builtin__|sys|shutil|socket|pty|importlib|runpy|pickle|_pickle|marshal|ctypes|code|codeop|webbrowser|multiprocessing|asyncio|types|functools|operator|cloudpickle|dill|joblib\.externals)\b/;

/** Every global a file names, and which are refused, without building anything. */
export function auditPickle(bytes: Uint8Array): AuditReport {
  const seen = new Map<string, boolean>();
  const offsets: Record<string, number> = {};
  let error: string | undefined;
  let protocol: number | undefined;
  let data = bytes;
  let compression: string | null = null;
  try {
    const raw = decompress(bytes, MAX_FILE, (m) => {
      throw new PickleError(m, 0);
    });
    data = raw.bytes;
    compression = raw.compression;
    protocol = unpickle(data, {
      resolve: makeResolver(),
      auditOnly: true,
      onGlobal: (g, ok, at) => {
        seen.set(g, ok);
        if (!ok && !(g in offsets)) offsets[g] = at;
      },
    }).protocol;
  } catch (e) {
    if (!(e instanceof PickleError)) throw e;
    error = e.message;
  }
  const globals = [...seen].sort().map(([name, allowed]) => ({ name, allowed }));
  const risks: Record<string, string> = {};
  for (const g of globals) if (!g.allowed) risks[g.name] = RISKY.test(g.name) ? "can run code or touch the system" : "not on the allow-list of model classes";
  const joblib = compression !== null || globals.some((g) => g.name.endsWith(".NumpyArrayWrapper"));
  return { format: joblib ? "joblib" : "pickle", compression, protocol, globals, risks, offsets, ...(error ? { error } : {}) };
}

export function readBytes(path: string): Uint8Array {
  try {
    const st = statSync(path);
    if (st.size > MAX_FILE) throw new RidepredError(`${path}: file is ${st.size} bytes, over the ${MAX_FILE}-byte limit`, 2);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof RidepredError) throw e;
    throw fileError(path, "cannot read", e);
  }
}

/** A pickle or joblib file (plain or zlib/gzip-compressed) -> a ModelArtifact. */
export function importPickleFile(path: string, opts: ImportOptions = {}, extra?: Partial<ModelArtifact["environment"]>): ModelArtifact {
  return importPickleBytes(path, readBytes(path), opts, extra);
}

/** The same from bytes in memory; `path` names the source in errors and in the artifact. */
export function importPickleBytes(path: string, bytes: Uint8Array, opts: ImportOptions = {}, extra?: Partial<ModelArtifact["environment"]>): ModelArtifact {
  const pkl = readPickle(path, bytes);
  const fail = (m: string): never => {
    throw new RidepredError(`${path}: ${m}`, 2);
  };
  const parts = guard(path, () => modelParts(pkl.value, fail));
  return buildArtifact(
    parts,
    {
      file: basename(path),
      sha256: sha256Hex(bytes),
      format: pkl.compression ? `${pkl.format}+${pkl.compression}` : pkl.format,
      protocol: pkl.protocol,
      globals: pkl.globals,
    },
    opts,
    fail,
    extra,
  );
}

/** Run a reader over untrusted structure: any non-ridepred error becomes a clear error about the file. */
function guard<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RidepredError) throw e;
    throw new RidepredError(`${path}: cannot read this model (${(e as Error).name}: ${(e as Error).message})`, 2);
  }
}

export function buildArtifact(
  parts: ModelParts,
  source: ModelArtifact["environment"]["source"],
  opts: ImportOptions,
  fail: (m: string) => never,
  extra?: Partial<ModelArtifact["environment"]>,
): ModelArtifact {
  const { inputs, fields } = inferInputs(parts.vectorizer, opts.derive ?? {}, fail);
  for (const [name, value] of Object.entries(opts.defaults ?? {})) {
    const inp = inputs.find((i) => i.name === name);
    if (!inp) fail(`--default ${name}: the model has no input named ${name} (inputs: ${inputs.map((i) => i.name).join(", ")})`);
    inp!.default = inp!.type === "number" ? Number(value) : String(value);
  }

  const recorded: Record<string, string> = {};
  const evidence: Record<string, string> = {};
  const skv = [...new Set(Object.values(parts.sklearnVersions))];
  if (skv.length) {
    recorded["scikit-learn"] = skv.join(" + ");
    evidence["scikit-learn"] = `_sklearn_version in the pickled ${Object.keys(parts.sklearnVersions).join(" and ")}`;
  }
  const globals = [...(source.globals ?? []), ...(source.preprocessor?.globals ?? [])];
  if (globals.some((g) => g.startsWith("numpy._core."))) {
    recorded.numpy = "2.x";
    evidence.numpy = "the pickle names numpy._core.* (written by numpy >= 2)";
  } else if (globals.some((g) => g.startsWith("numpy.core."))) {
    recorded.numpy = "1.x";
    evidence.numpy = "the pickle names numpy.core.* (written by numpy < 2)";
  }
  // Stated versions fill gaps; they may refine what the file implies ("1.x" -> "1.24.2") but never contradict it.
  // What a surrounding package recorded (an MLflow MLmodel): same precedence as the file's own evidence.
  for (const [k, v] of Object.entries(extra?.recorded ?? {})) {
    if (recorded[k] !== undefined && recorded[k] !== v && !new RegExp(`^${v.split(".")[0]}\\.x$`).test(recorded[k]!)) {
      fail(`${extra?.evidence?.[k] ?? k} says ${k} ${v}, but ${evidence[k]} says ${recorded[k]}`);
    }
    recorded[k] = v;
    evidence[k] = extra?.evidence?.[k] ?? "recorded beside the model";
  }
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    const known = recorded[k];
    if (known === undefined) {
      recorded[k] = v;
      evidence[k] = "stated at import";
    } else if (known !== v) {
      const major = /^(\d+)\.x$/.exec(known);
      if (!major || v.split(".")[0] !== major[1]) fail(`--env ${k}=${v} contradicts the file: ${evidence[k]} says ${known}`);
      recorded[k] = v;
      evidence[k] = `stated at import; consistent with ${evidence[k]}`;
    }
  }

  const artifact: Omit<ModelArtifact, "digest"> = {
    format: FORMAT,
    format_version: FORMAT_VERSION,
    name: opts.name ?? source.file.replace(/\.(bin|pkl|pickle|joblib|xgb|json|ubj|model)$/i, ""),
    version: opts.version ?? source.sha256.slice(0, 12),
    created: opts.created ?? new Date().toISOString(),
    ...(opts.description ? { description: opts.description } : {}),
    target: targetOf(opts, parts.classifier !== undefined),
    inputs,
    features: { fields, vectorizer: parts.vectorizer, ...(parts.scalers ? { scalers: parts.scalers } : {}) },
    estimator: parts.estimator,
    ...(parts.classifier ? { classifier: parts.classifier } : {}),
    environment: {
      recorded,
      evidence,
      ...(extra?.pins && Object.keys(extra.pins).length ? { pins: extra.pins } : {}),
      source,
      written_by: { ridepred: VERSION, node: process.versions.node },
      requires_format: `>=${FORMAT_VERSION} <${FORMAT_VERSION + 1}`,
    },
    examples: {
      source: opts.examplesSource ?? (opts.examples?.length ? "supplied at import" : "none supplied"),
      tolerance: opts.tolerance ?? { relative: 1e-9, absolute: 1e-9 },
      cases: opts.examples ?? [],
    },
  };
  return { ...artifact, digest: computeDigest(artifact) };
}

/** --target / --event-key, or the defaults: "duration" (minutes) for a regressor, "class" for a classifier. */
function targetOf(opts: ImportOptions, classifier: boolean): ModelArtifact["target"] {
  const name = opts.target?.name ?? (classifier ? "class" : "duration");
  const unit = opts.target?.unit ?? (classifier ? "class" : name === "duration" ? "minutes" : "");
  return { name, unit, ...(opts.eventKey ? { event_key: opts.eventKey } : {}) };
}

const COURSE_FIELD = "PU_DO";
const COURSE_TEMPLATE = "{PULocationID}_{DOLocationID}";

/**
 * The feature dict's fields, and the raw inputs they come from, read off the vocabulary:
 * "name=value" columns are category fields, bare names numeric ones. A category field named in
 * `derive` (or the course's PU_DO) is built from other inputs by a template.
 */
export function inferInputs(
  vec: DictVectorizerSpec,
  derive: Record<string, string>,
  fail: (m: string) => never,
): { inputs: InputSpec[]; fields: FeatureField[] } {
  const kinds = new Map<string, "category" | "number">();
  for (const fname of vec.feature_names) {
    const i = fname.indexOf(vec.separator);
    const field = i >= 0 ? fname.slice(0, i) : fname;
    const kind = i >= 0 ? "category" : "number";
    const prev = kinds.get(field);
    if (prev && prev !== kind) fail(`feature ${field} is both numeric and categorical in the vocabulary`);
    kinds.set(field, kind);
  }
  const templates = { ...derive };
  if (kinds.get(COURSE_FIELD) === "category" && !(COURSE_FIELD in templates)) templates[COURSE_FIELD] = COURSE_TEMPLATE;
  for (const name of Object.keys(derive)) {
    if (kinds.get(name) !== "category") fail(`--derive ${name}: the model has no categorical feature ${name} (it has ${[...kinds.keys()].join(", ")})`);
  }

  const inputs = new Map<string, InputSpec>();
  const addInput = (name: string, type: "category" | "number") => {
    const prev = inputs.get(name);
    if (prev && prev.type !== type) fail(`input ${name} is needed both as a category and as a number`);
    if (!prev) inputs.set(name, { name, type, required: true });
  };
  const fields: FeatureField[] = [];
  for (const [name, kind] of kinds) {
    const template = templates[name];
    if (template !== undefined) {
      const refs = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      if (!refs.length) fail(`derived feature ${name}: template ${JSON.stringify(template)} names no inputs`);
      for (const r of refs) addInput(r, "category");
      fields.push({ name, kind: "category", template });
    } else {
      addInput(name, kind);
      fields.push(kind === "category" ? { name, kind, input: name } : { name, kind, input: name });
    }
  }
  return { inputs: [...inputs.values()], fields };
}

/** "--derive NAME=A_B" (inputs joined by "_") or "--derive NAME={A}-{B}" (an explicit template). */
export function parseDerive(spec: string): [string, string] {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new RidepredError(`--derive ${spec}: expected NAME=A_B or NAME={A}_{B}`);
  const name = spec.slice(0, eq);
  const rhs = spec.slice(eq + 1);
  if (rhs.includes("{")) return [name, rhs];
  const parts = rhs.split("_").filter(Boolean);
  if (parts.length < 2) throw new RidepredError(`--derive ${spec}: expected at least two inputs joined by "_"`);
  return [name, parts.map((p) => `{${p}}`).join("_")];
}
