import { FORMAT, XGBOOST_OBJECTIVES } from "./types.js";

/** One thing wrong with a model.json, located by a JSON path. */
export interface Problem {
  path: string;
  reason: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Structural validation of a parsed model.json. Mirrors schema/model.schema.json, plus the
 * cross-field rules a JSON Schema cannot say (coef length = feature count, tree indices in range).
 */
export function validateArtifact(doc: unknown): Problem[] {
  const problems: Problem[] = [];
  const bad = (path: string, reason: string) => problems.push({ path, reason });
  if (!isObj(doc)) return [{ path: "$", reason: "not a JSON object" }];

  if (doc.format !== FORMAT) bad("format", `expected "${FORMAT}", got ${JSON.stringify(doc.format)}`);
  if (!Number.isInteger(doc.format_version)) bad("format_version", "must be an integer");
  for (const k of ["name", "version", "created", "digest"]) {
    if (typeof doc[k] !== "string" || doc[k] === "") bad(k, "must be a non-empty string");
  }
  if (typeof doc.digest === "string" && !/^sha256:[0-9a-f]{64}$/.test(doc.digest)) bad("digest", "must be sha256:<64 hex>");
  if (!isObj(doc.target) || typeof doc.target.name !== "string" || typeof doc.target.unit !== "string") {
    bad("target", "must be {name, unit}");
  }

  const inputNames = new Set<string>();
  const inputTypes = new Map<string, unknown>();
  if (!Array.isArray(doc.inputs) || doc.inputs.length === 0) bad("inputs", "must be a non-empty array");
  else
    doc.inputs.forEach((inp, i) => {
      if (!isObj(inp) || typeof inp.name !== "string" || !inp.name) {
        bad(`inputs[${i}]`, "must have a name");
        return;
      }
      if (inp.type !== "category" && inp.type !== "number") bad(`inputs[${i}].type`, `must be "category" or "number"`);
      if (typeof inp.required !== "boolean") bad(`inputs[${i}].required`, "must be a boolean");
      if (inputNames.has(inp.name)) bad(`inputs[${i}].name`, `duplicate input "${inp.name}"`);
      inputNames.add(inp.name);
      inputTypes.set(inp.name, inp.type);
    });

  let nFeatures = -1;
  if (!isObj(doc.features)) bad("features", "must be an object");
  else {
    const f = doc.features;
    if (!Array.isArray(f.fields) || f.fields.length === 0) bad("features.fields", "must be a non-empty array");
    else
      f.fields.forEach((fld, i) => {
        const p = `features.fields[${i}]`;
        if (!isObj(fld) || typeof fld.name !== "string") {
          bad(p, "must have a name");
          return;
        }
        if (fld.kind !== "category" && fld.kind !== "number") bad(`${p}.kind`, `must be "category" or "number"`);
        if (typeof fld.template === "string") {
          if (fld.kind !== "category") bad(`${p}.template`, "only category fields are derived from a template");
          for (const m of fld.template.matchAll(/\{([^}]*)\}/g)) {
            if (!inputNames.has(m[1]!)) bad(`${p}.template`, `names unknown input "${m[1]}"`);
            else if (inputTypes.get(m[1]!) !== "category") bad(`${p}.template`, `input "${m[1]}" must be a category input`);
          }
        } else if (typeof fld.input === "string") {
          if (!inputNames.has(fld.input)) bad(`${p}.input`, `unknown input "${fld.input}"`);
          // DictVectorizer one-hot encodes strings and passes numbers through: a field's kind is its input's type.
          else if (inputTypes.get(fld.input) !== fld.kind)
            bad(`${p}.input`, `a ${fld.kind} field needs a ${fld.kind} input; "${fld.input}" is ${inputTypes.get(fld.input)}`);
        } else bad(p, "needs an input or a template");
      });
    const v = f.vectorizer;
    if (!isObj(v) || v.kind !== "DictVectorizer") bad("features.vectorizer", 'must be {kind: "DictVectorizer", ...}');
    else {
      if (typeof v.separator !== "string") bad("features.vectorizer.separator", "must be a string");
      if (!Array.isArray(v.feature_names) || !v.feature_names.every((n) => typeof n === "string")) {
        bad("features.vectorizer.feature_names", "must be an array of strings");
      } else nFeatures = v.feature_names.length;
      if (v.sparse !== undefined && typeof v.sparse !== "boolean") bad("features.vectorizer.sparse", "must be a boolean");
    }
    if (f.scalers !== undefined) validateScalers(f.scalers, nFeatures, isObj(v) && v.sparse === false, bad);
  }

  const outputs = validateEstimator(doc.estimator, nFeatures, bad);
  validateClassifier(doc.classifier, outputs, bad);

  if (!isObj(doc.environment)) bad("environment", "must be an object");
  else {
    const e = doc.environment;
    if (!isObj(e.recorded)) bad("environment.recorded", "must be an object of name -> version");
    if (!isObj(e.source) || typeof e.source.sha256 !== "string") bad("environment.source", "must name the source file and its sha256");
    if (typeof e.requires_format !== "string") bad("environment.requires_format", "must be a version range string");
  }

  if (!isObj(doc.examples)) bad("examples", "must be an object");
  else {
    const ex = doc.examples;
    if (!Array.isArray(ex.cases)) bad("examples.cases", "must be an array");
    else
      ex.cases.forEach((c, i) => {
        if (!isObj(c) || !isObj(c.input)) {
          bad(`examples.cases[${i}]`, "must be {input: {...}, output: ...}");
          return;
        }
        if (doc.classifier === undefined && typeof c.output !== "number") bad(`examples.cases[${i}].output`, "must be a number (the prediction)");
        if (doc.classifier !== undefined && !["number", "string", "boolean"].includes(typeof c.output))
          bad(`examples.cases[${i}].output`, "must be a class label");
        if (c.probabilities !== undefined && !(isObj(c.probabilities) && Object.values(c.probabilities).every((p) => typeof p === "number")))
          bad(`examples.cases[${i}].probabilities`, "must map class names to numbers");
      });
    if (!isObj(ex.tolerance) || typeof ex.tolerance.relative !== "number" || typeof ex.tolerance.absolute !== "number") {
      bad("examples.tolerance", "must be {relative, absolute}");
    }
  }
  return problems;
}

function validateScalers(scalers: unknown, nFeatures: number, dense: boolean, bad: (p: string, r: string) => void): void {
  if (!Array.isArray(scalers)) {
    bad("features.scalers", "must be an array");
    return;
  }
  const perFeature = (a: unknown, p: string, nullable: boolean) => {
    if (a === null && nullable) return;
    if (!Array.isArray(a) || !a.every(Number.isFinite)) {
      bad(p, "must be an array of finite numbers");
      return;
    }
    if (nFeatures >= 0 && a.length !== nFeatures) bad(p, `has ${a.length} entries but there are ${nFeatures} features`);
  };
  scalers.forEach((s, i) => {
    const p = `features.scalers[${i}]`;
    if (!isObj(s)) {
      bad(p, "must be an object");
      return;
    }
    if (s.kind === "StandardScaler") {
      perFeature(s.mean, `${p}.mean`, true);
      perFeature(s.scale, `${p}.scale`, true);
      if (s.mean !== null && !dense) bad(`${p}.mean`, "centring needs a dense vectorizer (sparse: false)");
    } else if (s.kind === "MaxAbsScaler") perFeature(s.scale, `${p}.scale`, false);
    else if (s.kind === "MinMaxScaler") {
      perFeature(s.scale, `${p}.scale`, false);
      perFeature(s.min, `${p}.min`, false);
      if (!dense) bad(p, "MinMaxScaler needs a dense vectorizer (sparse: false)");
      if (s.clip !== null && !(Array.isArray(s.clip) && s.clip.length === 2 && s.clip.every(Number.isFinite))) bad(`${p}.clip`, "must be null or [low, high]");
    } else bad(`${p}.kind`, "must be StandardScaler, MaxAbsScaler or MinMaxScaler");
  });
}

/** Checks the estimator; returns its number of raw outputs. */
function validateEstimator(est: unknown, nFeatures: number, bad: (p: string, r: string) => void): number {
  if (!isObj(est)) {
    bad("estimator", "must be an object");
    return 1;
  }
  const outputs = est.outputs ?? 1;
  if (!Number.isInteger(outputs) || (outputs as number) < 1) {
    bad("estimator.outputs", "must be a positive integer");
    return 1;
  }
  const m = outputs as number;
  // One number per output: a single number for one output (every regressor), else an array of m.
  const perOutput = (v: unknown, p: string) => {
    const ok = m === 1 ? Number.isFinite(v) : Array.isArray(v) && v.length === m && v.every(Number.isFinite);
    if (!ok) bad(p, m === 1 ? "must be a finite number" : `must be an array of ${m} finite numbers, one per output`);
  };
  if (est.kind === "linear") {
    if (!Array.isArray(est.coef) || !est.coef.every(Number.isFinite)) {
      bad("estimator.coef", "must be an array of finite numbers");
      return m;
    }
    if (nFeatures >= 0 && est.coef.length !== nFeatures * m) {
      bad("estimator.coef", `has ${est.coef.length} entries but there are ${nFeatures} features${m > 1 ? ` and ${m} outputs` : ""}`);
    }
    perOutput(est.intercept, "estimator.intercept");
  } else if (est.kind === "tree_ensemble") {
    if (est.aggregate !== "sum" && est.aggregate !== "mean") bad("estimator.aggregate", 'must be "sum" or "mean"');
    if (est.compare !== "float32" && est.compare !== "float64") bad("estimator.compare", 'must be "float32" or "float64"');
    if (!Number.isFinite(est.scale)) bad("estimator.scale", "must be a finite number");
    if (Number.isFinite(est.init)) {
      // one number: every output starts there
    } else perOutput(est.init, "estimator.init");
    const w = est.value_width ?? 1;
    if (w !== 1 && w !== m) bad("estimator.value_width", `must be 1 or the number of outputs (${m})`);
    if (est.normalize_leaves !== undefined && typeof est.normalize_leaves !== "boolean") bad("estimator.normalize_leaves", "must be a boolean");
    if (!Array.isArray(est.trees) || est.trees.length === 0) {
      bad("estimator.trees", "must be a non-empty array");
      return m;
    }
    for (const [i, t] of est.trees.entries()) validateTree(t, `estimator.trees[${i}]`, nFeatures, bad, w === m ? m : 1);
    if (est.link !== undefined && est.link !== "exp") bad("estimator.link", 'must be "exp" when present');
  } else if (est.kind === "xgboost") {
    if (typeof est.objective !== "string" || !(XGBOOST_OBJECTIVES as readonly string[]).includes(est.objective))
      bad("estimator.objective", `must be one of ${XGBOOST_OBJECTIVES.join(", ")}`);
    if (est.absent !== "missing" && est.absent !== "zero") bad("estimator.absent", 'must be "missing" or "zero"');
    // One base margin per output group: one, or one per class (multi-class objectives).
    const groups = Array.isArray(est.base_margin) ? est.base_margin.length : 0;
    const multi = est.objective === "multi:softprob" || est.objective === "multi:softmax";
    if (!Array.isArray(est.base_margin) || !est.base_margin.every(Number.isFinite) || (multi ? groups < 2 : groups !== 1))
      bad("estimator.base_margin", multi ? "must hold one finite number per class (at least 2)" : "must hold one finite number");
    if (!Array.isArray(est.trees) || est.trees.length === 0) {
      bad("estimator.trees", "must be a non-empty array");
      return m;
    }
    const tg = est.tree_group;
    if (multi ? !Array.isArray(tg) : tg !== undefined && !(Array.isArray(tg) && tg.every((g) => g === 0)))
      bad("estimator.tree_group", "must give each tree's group");
    else if (Array.isArray(tg) && !(tg.length === est.trees.length && tg.every((g) => Number.isInteger(g) && g >= 0 && g < groups)))
      bad("estimator.tree_group", `must give each of the ${est.trees.length} trees a group below ${groups}`);
    for (const [i, t] of est.trees.entries()) validateTree(t, `estimator.trees[${i}]`, nFeatures, bad);
    // Its raw outputs are its margins, one per group.
    return Math.max(1, groups);
  } else bad("estimator.kind", `unknown estimator kind ${JSON.stringify(est.kind)}`);
  return m;
}

const LINKS = ["logistic", "logistic_ovr", "softmax", "logsumexp", "identity"];

/** A classifier's classes, and a link that fits the estimator's outputs; a regressor has one output. */
function validateClassifier(c: unknown, outputs: number, bad: (p: string, r: string) => void): void {
  if (c === undefined) {
    if (outputs !== 1) bad("estimator.outputs", `a regressor has one output, not ${outputs}`);
    return;
  }
  if (!isObj(c)) {
    bad("classifier", "must be an object");
    return;
  }
  const classes = c.classes;
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((x) => ["number", "string", "boolean"].includes(typeof x))) {
    bad("classifier.classes", "must list at least two class labels (numbers, strings or booleans)");
    return;
  }
  if (new Set(classes).size !== classes.length) bad("classifier.classes", "has duplicates");
  const names = c.class_names;
  if (!Array.isArray(names) || names.length !== classes.length || !names.every((n) => typeof n === "string"))
    bad("classifier.class_names", `must be ${classes.length} strings, one per class`);
  else if (new Set(names).size !== names.length) bad("classifier.class_names", "has duplicates");
  if (!LINKS.includes(c.link as string)) {
    bad("classifier.link", `must be one of ${LINKS.join(", ")}`);
    return;
  }
  if (c.decision !== "raw" && c.decision !== "proba") bad("classifier.decision", 'must be "raw" or "proba"');
  // One raw output serves two classes (logistic, softmax of [-s, s]); otherwise one output per class.
  const k = classes.length;
  const fits = c.link === "logistic" ? k === 2 && outputs === 1 : c.link === "softmax" && outputs === 1 ? k === 2 : outputs === k;
  if (!fits) bad("classifier.link", `${c.link} does not fit ${outputs} raw output${outputs === 1 ? "" : "s"} for ${k} classes`);
}

function validateTree(t: unknown, p: string, nFeatures: number, bad: (p: string, r: string) => void, width = 1): void {
  if (!isObj(t)) {
    bad(p, "must be an object");
    return;
  }
  const keys = ["feature", "threshold", "left", "right", "value"] as const;
  const arrs = keys.map((k) => t[k]);
  if (!arrs.every((a) => Array.isArray(a) && a.every((x) => typeof x === "number"))) {
    bad(p, `${keys.join(", ")} must be number arrays`);
    return;
  }
  const [feature, , left, right] = arrs as number[][];
  const n = feature!.length;
  if (n === 0 || !arrs.every((a, j) => (a as number[]).length === (keys[j] === "value" ? n * width : n))) {
    bad(p, `node arrays must be non-empty and of equal length${width > 1 ? ` (value: ${width} per node)` : ""}`);
    return;
  }
  const missing = t.missing_left;
  if (missing !== undefined && !(Array.isArray(missing) && missing.length === n && missing.every((m) => m === 0 || m === 1))) {
    bad(`${p}.missing_left`, "must be an array of 0/1, one per node");
    return;
  }
  if (!(arrs as number[][]).every((a) => a.every(Number.isFinite))) {
    bad(p, "node arrays must hold finite numbers");
    return;
  }
  for (let i = 0; i < n; i++) {
    if (feature![i]! < 0) continue;
    if (!Number.isInteger(feature![i]) || !Number.isInteger(left![i]) || !Number.isInteger(right![i])) {
      bad(`${p}[${i}]`, "feature and child indices must be integers");
      return;
    }
    if (nFeatures >= 0 && feature![i]! >= nFeatures) {
      bad(`${p}.feature[${i}]`, `feature index ${feature![i]} out of range`);
      return;
    }
    // Children come after their parent in scikit-learn's depth-first layout: this also rules out cycles.
    if (!(left![i]! > i && left![i]! < n && right![i]! > i && right![i]! < n)) {
      bad(`${p}.left/right[${i}]`, "child index out of range");
      return;
    }
  }
  // Every node but the root is the child of exactly one split: one tree, every node reachable.
  const parents = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (feature![i]! < 0) continue;
    if (left![i] === right![i]) {
      bad(`${p}.left/right[${i}]`, "both children are the same node");
      return;
    }
    parents[left![i]!]!++;
    parents[right![i]!]!++;
  }
  for (let i = 1; i < n; i++)
    if (parents[i] !== 1) {
      bad(`${p}[${i}]`, parents[i] ? "node has more than one parent" : "node is unreachable from the root");
      return;
    }
}
