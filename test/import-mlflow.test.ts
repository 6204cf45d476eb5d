// MLflow folders in the shapes MLflow writes them, and the YAML subset ridepred reads for it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importMlflow, readMlflowFolder } from "../src/sklearn/mlflow.js";
import { parseYaml } from "../src/sklearn/yaml.js";

const DIR = join(__dirname, "fixtures", "sklearn");

function copyFolder(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), "ridepred-mlflow-")), "model");
  cpSync(join(DIR, `${name}.mlflow`), dir, { recursive: true });
  return dir;
}

describe("YAML subset (PyYAML safe_dump output)", () => {
  it("reads nested mappings, same-indent lists, list items that are mappings, nulls, and keeps versions as text", () => {
    const doc = parseYaml(readFileSync(join(DIR, "Pipeline_Ridge.mlflow", "conda.yaml"), "utf8"), "conda.yaml");
    expect(doc).toEqual({
      channels: ["conda-forge"],
      dependencies: ["python=3.11.2", "pip<=23.0.1", { pip: ["mlflow==2.9.2", "scikit-learn==1.2.1", "numpy==1.24.2", "pandas==1.5.3", "joblib==1.2.0"] }],
      name: "mlflow-env",
    });
    expect(parseYaml("python: 3.10\ncode: null\nx: ~\nempty:\n", "t")).toEqual({ python: "3.10", code: null, x: null, empty: null });
  });

  it("folds quoted scalars over lines, as PyYAML wraps a long signature", () => {
    const mlmodel = parseYaml(readFileSync(join(DIR, "Pipeline_Ridge.mlflow", "MLmodel"), "utf8"), "MLmodel") as Record<string, Record<string, string>>;
    const inputs = JSON.parse(mlmodel.signature!.inputs!);
    expect(inputs.map((c: { name: string }) => c.name)).toEqual(["PULocationID", "DOLocationID", "trip_distance"]);
    expect(parseYaml("a: 'it''s\n  folded'\nb: \"x\\ty\"\n", "t")).toEqual({ a: "it's folded", b: "x\ty" });
  });

  it("refuses what it does not understand, with the line", () => {
    expect(() => parseYaml("a: 1\n  b: 2\n", "f.yaml")).toThrow(/f\.yaml:1: |f\.yaml:2: /);
    expect(() => parseYaml("a: |\n  text\n", "f.yaml")).toThrow(/f\.yaml:1: unsupported YAML construct/);
    expect(() => parseYaml("a: 1\na: 2\n", "f.yaml")).toThrow(/f\.yaml:2: duplicate key a/);
    expect(() => parseYaml("a: 'open\n", "f.yaml")).toThrow(/unterminated quoted string/);
  });
});

describe("MLflow folder variants", () => {
  it("cloudpickle serialization (MLflow's default) is read like pickle; records-orient input examples work", () => {
    const dir = copyFolder("Pipeline_Ridge");
    const mlmodel = readFileSync(join(dir, "MLmodel"), "utf8").replace("serialization_format: pickle", "serialization_format: cloudpickle");
    writeFileSync(join(dir, "MLmodel"), mlmodel);
    writeFileSync(join(dir, "input_example.json"), JSON.stringify([{ PULocationID: "74", DOLocationID: "75", trip_distance: 1.2 }]));
    const { artifact, info } = importMlflow(dir);
    expect(artifact.environment.source.format).toBe("mlflow (cloudpickle)");
    expect(info.inputExample).toEqual([{ PULocationID: "74", DOLocationID: "75", trip_distance: 1.2 }]);
  });

  it("a folder with only MLmodel and the pickle imports, with no pins", () => {
    const dir = copyFolder("DecisionTreeRegressor");
    for (const f of ["requirements.txt", "conda.yaml", "python_env.yaml", "input_example.json"]) rmSync(join(dir, f));
    const { artifact, info } = importMlflow(dir);
    expect(artifact.environment.pins).toBeUndefined();
    expect(info.inputExample).toBeUndefined();
    expect(artifact.environment.recorded["scikit-learn"]).toBe("1.2.1");
  });

  it("MLmodel disagreeing with the pickle about scikit-learn is refused", () => {
    const dir = copyFolder("Pipeline_Ridge");
    writeFileSync(join(dir, "MLmodel"), readFileSync(join(dir, "MLmodel"), "utf8").replace("sklearn_version: 1.2.1", "sklearn_version: 1.3.0"));
    expect(() => importMlflow(dir)).toThrow(
      /MLmodel flavors\.sklearn\.sklearn_version .* says scikit-learn 1\.3\.0, but _sklearn_version in the pickled .* says 1\.2\.1/,
    );
  });

  it("pickled_model names the file; a missing one is a clear error", () => {
    const dir = copyFolder("Pipeline_Ridge");
    rmSync(join(dir, "model.pkl"));
    expect(() => importMlflow(dir)).toThrow(/model\.pkl: cannot read: ENOENT/);
    expect(readMlflowFolder(dir).modelFile).toBe(join(dir, "model.pkl"));
  });
});
