// An MLflow model folder (mlflow.sklearn or mlflow.xgboost save_model / log_model): MLmodel names the model file and
// the versions it was saved with; requirements.txt, conda.yaml and python_env.yaml pin the environment.
// Everything recorded lands in the artifact's environment, so inspect shows it and verify --lock checks it.

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { ModelArtifact } from "../artifact/types.js";
import { computeDigest } from "../artifact/digest.js";
import { parsePinsText } from "../artifact/lockfile.js";
import { RidepredError } from "../errors.js";
import { importBoosterFile, type BoosterImportOptions } from "../xgboost/import.js";
import { importPickleFile } from "./import.js";
import { parseYaml, type Yaml } from "./yaml.js";

export interface MlflowInfo {
  flavor: "sklearn" | "xgboost";
  modelFile: string;
  serialization: string;
  /** The xgboost flavor's model_class, short: "Booster", "XGBRegressor". */
  modelClass?: string;
  recorded: Record<string, string>;
  evidence: Record<string, string>;
  pins: Record<string, Record<string, string>>;
  runId?: string;
  signature?: { name: string; type: string }[];
  inputExample?: Record<string, unknown>[];
}

/** MLmodel, environment files and input examples are small text; a huge one is refused, not read. */
const MAX_TEXT = 4 * 1024 * 1024;
function readText(path: string): string {
  const size = statSync(path).size;
  if (size > MAX_TEXT) throw new RidepredError(`${path}: ${size} bytes, over the ${MAX_TEXT}-byte limit for MLflow metadata`, 2);
  return readFileSync(path, "utf8");
}

const obj = (v: Yaml | undefined): { [k: string]: Yaml } => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
const str = (v: Yaml | undefined): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Read MLmodel and the environment files beside it. */
export function readMlflowFolder(dir: string): MlflowInfo {
  const mlmodelPath = join(dir, "MLmodel");
  if (!existsSync(mlmodelPath)) throw new RidepredError(`${dir}: a folder, but not an MLflow model (no MLmodel file)`, 2);
  let doc: { [k: string]: Yaml };
  try {
    doc = obj(parseYaml(readText(mlmodelPath), mlmodelPath));
  } catch (e) {
    if (e instanceof RidepredError) throw e;
    throw new RidepredError((e as Error).message, 2);
  }
  const flavors = obj(doc.flavors);
  const sk = obj(flavors.sklearn);
  const xgb = obj(flavors.xgboost);
  const pyfunc = obj(flavors.python_function);
  let flavor: MlflowInfo["flavor"];
  let serialization: string;
  let file: string;
  if (flavors.sklearn) {
    flavor = "sklearn";
    serialization = str(sk.serialization_format) ?? "cloudpickle";
    if (serialization !== "pickle" && serialization !== "cloudpickle") {
      throw new RidepredError(`${mlmodelPath}: serialization_format ${serialization} is not supported (pickle and cloudpickle are)`, 2);
    }
    file = str(sk.pickled_model) ?? str(pyfunc.model_path) ?? "model.pkl";
  } else if (flavors.xgboost) {
    // mlflow.xgboost.log_model: the booster saved by save_model, in the format model_format names.
    flavor = "xgboost";
    serialization = `xgboost ${str(xgb.model_format) ?? "xgb"}`;
    file = str(xgb.data) ?? str(pyfunc.data) ?? "model.xgb";
  } else {
    throw new RidepredError(
      `${mlmodelPath}: no sklearn or xgboost flavor (flavors: ${Object.keys(flavors).join(", ") || "none"}); ridepred imports scikit-learn and XGBoost models`,
      2,
    );
  }
  const modelFile = resolve(dir, file);
  if (!modelFile.startsWith(resolve(dir))) throw new RidepredError(`${mlmodelPath}: model file ${file} points outside the folder`, 2);

  const recorded: Record<string, string> = {};
  const evidence: Record<string, string> = {};
  const runId = str(doc.run_id);
  const note = runId ? ` (run ${runId})` : "";
  const put = (k: string, v: string | undefined, how: string) => {
    if (v) {
      recorded[k] = v;
      evidence[k] = how;
    }
  };
  put("scikit-learn", str(sk.sklearn_version), `MLmodel flavors.sklearn.sklearn_version${note}`);
  put("xgboost", str(xgb.xgb_version), `MLmodel flavors.xgboost.xgb_version${note}`);
  put("python", str(pyfunc.python_version), `MLmodel flavors.python_function.python_version${note}`);
  put("mlflow", str(doc.mlflow_version), `MLmodel mlflow_version${note}`);

  const pins: Record<string, Record<string, string>> = {};
  const env = obj(pyfunc.env);
  const envFiles = new Set(["requirements.txt", str(env.conda) ?? "conda.yaml", str(env.virtualenv) ?? "python_env.yaml"]);
  for (const f of envFiles) {
    const p = resolve(dir, f);
    if (!p.startsWith(resolve(dir)) || !existsSync(p)) continue;
    const found = parsePinsText(basename(p), readText(p), p);
    if (Object.keys(found).length) pins[f] = found;
  }

  let signature: MlflowInfo["signature"];
  const sigText = str(obj(doc.signature).inputs);
  if (sigText) {
    try {
      const cols = JSON.parse(sigText) as { name?: string; type?: string }[];
      if (Array.isArray(cols)) signature = cols.filter((c) => typeof c?.name === "string").map((c) => ({ name: c.name!, type: String(c.type ?? "") }));
    } catch {
      throw new RidepredError(`${mlmodelPath}: signature.inputs is not valid JSON`, 2);
    }
  }

  let inputExample: MlflowInfo["inputExample"];
  const exampleFile = str(obj(doc.saved_input_example_info).artifact_path);
  if (exampleFile && existsSync(resolve(dir, exampleFile)) && resolve(dir, exampleFile).startsWith(resolve(dir))) {
    inputExample = readInputExample(resolve(dir, exampleFile));
  }
  const modelClass = flavor === "xgboost" ? (str(xgb.model_class) ?? "xgboost.core.Booster").split(".").pop() : undefined;
  return { flavor, modelFile, serialization, modelClass, recorded, evidence, pins, runId, signature, inputExample };
}

/** input_example.json as rows: pandas "split" ({columns, data}), "records" ([{...}]) or {"dataframe_split": ...}. */
function readInputExample(path: string): Record<string, unknown>[] {
  const text = readText(path);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RidepredError(`${path}: input example is not valid JSON: ${(e as Error).message}`, 2);
  }
  const d = (doc as { dataframe_split?: unknown; dataframe_records?: unknown }) ?? {};
  const split = (d.dataframe_split ?? doc) as { columns?: unknown; data?: unknown };
  if (split && Array.isArray(split.columns) && Array.isArray(split.data)) {
    const cols = split.columns as string[];
    return (split.data as unknown[][]).map((row) => Object.fromEntries(cols.map((c, i) => [c, Array.isArray(row) ? row[i] : undefined])));
  }
  const recs = d.dataframe_records ?? doc;
  if (Array.isArray(recs) && recs.every((r) => typeof r === "object" && r !== null)) return recs as Record<string, unknown>[];
  throw new RidepredError(`${path}: input example is neither pandas split nor records JSON`, 2);
}

export interface MlflowImport {
  artifact: ModelArtifact;
  info: MlflowInfo;
}

/** Import the folder's model with every recorded version and pin in its environment. */
export function importMlflowModel(dir: string, opts: BoosterImportOptions = {}): ModelArtifact {
  return importMlflow(dir, opts).artifact;
}

export function importMlflow(dir: string, opts: BoosterImportOptions = {}): MlflowImport {
  const info = readMlflowFolder(dir);
  const named = { ...opts, name: opts.name ?? basename(resolve(dir)).replace(/\.mlflow$/, "") };
  const extra = { recorded: info.recorded, evidence: info.evidence, pins: info.pins };
  const artifact =
    info.flavor === "xgboost"
      ? importBoosterFile(info.modelFile, named, { extra, modelClass: info.modelClass })
      : importPickleFile(info.modelFile, named, extra);
  const src = artifact.environment.source;
  src.format = info.flavor === "xgboost" ? `mlflow (${src.format})` : `mlflow (${info.serialization})`;
  src.file = `${basename(resolve(dir))}/${basename(info.modelFile)}`;
  // Signature names document the inputs (MLflow's column types) where they match the model's.
  for (const inp of artifact.inputs) {
    const col = info.signature?.find((c) => c.name === inp.name);
    if (col && !inp.description) inp.description = `MLflow signature: ${col.type}`;
  }
  // The source fields changed after buildArtifact sealed it: seal again.
  const { digest: _stale, ...body } = artifact;
  return { artifact: { ...body, digest: computeDigest(body) }, info };
}
