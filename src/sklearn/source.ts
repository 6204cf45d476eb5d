// What a path given to `ridepred import` (or `verify --source`) holds, decided in one place: an MLflow model
// folder (sklearn or xgboost flavor), a saved XGBoost booster (recognised from its bytes), or a pickle /
// joblib file.

import { statSync } from "node:fs";
import type { ModelArtifact } from "../artifact/types.js";
import { fileError } from "../errors.js";
import { detectFormat } from "../xgboost/detect.js";
import { type BoosterImportOptions, importBoosterBytes } from "../xgboost/import.js";
import { importPickleBytes, readBytes } from "./import.js";
import { importMlflow, type MlflowInfo } from "./mlflow.js";

export interface ImportedSource {
  artifact: ModelArtifact;
  /** Set when the source was an MLflow model folder. */
  mlflow?: MlflowInfo;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (e) {
    throw fileError(path, "cannot read", e);
  }
}

export function importFrom(path: string, opts: BoosterImportOptions = {}): ImportedSource {
  if (isDirectory(path)) {
    const { artifact, info } = importMlflow(path, opts);
    return { artifact, mlflow: info };
  }
  const bytes = readBytes(path);
  if (detectFormat(bytes) !== null) return { artifact: importBoosterBytes(path, bytes, opts) };
  return { artifact: importPickleBytes(path, bytes, opts) };
}

/** A model file or an MLflow model folder -> its artifact. */
export async function importSource(path: string, opts: BoosterImportOptions = {}): Promise<ModelArtifact> {
  return importFrom(path, opts).artifact;
}
