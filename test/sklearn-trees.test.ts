// scikit-learn trees are read by one function (src/sklearn/trees.ts sklearnTree), regression trees and
// classification trees alike: a malformed classification tree is refused naming the tree and what is wrong.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { classifierParts } from "../src/sklearn/classifiers.js";
import { readPickle } from "../src/sklearn/import.js";
import type { PyObject, PyValue } from "../src/sklearn/pickle.js";

const PKL = join(import.meta.dirname, "fixtures/classifiers/DecisionTreeClassifier_binary.pkl");

/** The fixture's DecisionTreeClassifier (the pipeline's last step), freshly read, and its tree_. */
function classifier(): { est: PyObject; tree: PyObject } {
  const pipe = readPickle(PKL, readFileSync(PKL)).value as PyObject;
  const steps = (pipe.state as Map<string, PyValue>).get("steps") as PyValue[][];
  const est = steps.at(-1)![1] as PyObject;
  return { est, tree: (est.state as Map<string, PyValue>).get("tree_") as PyObject };
}

const refusal = (est: PyObject, nFeatures: number) => {
  try {
    classifierParts(est, nFeatures, (m) => {
      throw new Error(m);
    });
  } catch (e) {
    return (e as Error).message;
  }
  return "not refused";
};

describe("classification trees through sklearnTree", () => {
  it("the fixture reads, with a tree per the classifier", () => {
    const { est, tree } = classifier();
    const parts = classifierParts(est, tree.args[0] as number, (m) => {
      throw new Error(m);
    });
    expect(parts.estimator).toMatchObject({ kind: "tree_ensemble", sklearn_class: "DecisionTreeClassifier", aggregate: "mean" });
  });

  it("refusals name the tree: n_classes, node_count, the feature count, a tree_ that is not a Tree", () => {
    const nodes = (c: ReturnType<typeof classifier>) => (c.tree.state as Map<string, PyValue>).get("node_count") as number;
    let c = classifier();
    const n = nodes(c);
    const nFeatures = c.tree.args[0] as number;
    c.tree.args[1] = 3;
    expect(refusal(c.est, nFeatures)).toBe("DecisionTreeClassifier.tree_ has [3] classes, but classes_ lists 2");
    c = classifier();
    (c.tree.state as Map<string, PyValue>).set("node_count", n + 1);
    expect(refusal(c.est, nFeatures)).toBe(`DecisionTreeClassifier.tree_ says node_count ${n + 1} but has ${n} nodes`);
    c = classifier();
    expect(refusal(c.est, nFeatures + 1)).toBe(
      `DecisionTreeClassifier.tree_ was fitted on ${nFeatures} features, but the DictVectorizer makes ${nFeatures + 1}`,
    );
    c = classifier();
    c.tree.args[2] = 2;
    expect(refusal(c.est, nFeatures)).toBe("DecisionTreeClassifier.tree_ has 2 outputs: multi-output models are not supported");
    c = classifier();
    (c.est.state as Map<string, PyValue>).set("tree_", 5);
    expect(refusal(c.est, nFeatures)).toMatch(/^DecisionTreeClassifier\.tree_ is a .*, not a sklearn\.tree\._tree\.Tree$/);
  });
});
