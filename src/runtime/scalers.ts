// The Pipeline's scalers between DictVectorizer and the estimator, with scikit-learn's transform() arithmetic:
// on the sparse matrix DictVectorizer makes by default only stored values change, multiplied by the
// reciprocal of the scale (inplace_column_scale(X, 1 / scale_)); on a dense matrix every column is
// transformed, so an unset feature becomes the transform of 0 (its default below).
import type { ScalerSpec } from "../artifact/types.js";

type Step = (v: number, c: number) => number;

function stepOf(s: ScalerSpec, sparse: boolean): Step {
  switch (s.kind) {
    case "StandardScaler": {
      const mean = s.mean ? Float64Array.from(s.mean) : null;
      const scale = s.scale ? Float64Array.from(s.scale) : null;
      if (sparse) {
        const inv = scale ? scale.map((x) => 1 / x) : null;
        return inv ? (v, c) => v * inv[c]! : (v) => v;
      }
      // X -= mean_ (with_mean), then X /= scale_ (with_std)
      if (mean && scale) return (v, c) => (v - mean[c]!) / scale[c]!;
      if (mean) return (v, c) => v - mean[c]!;
      return scale ? (v, c) => v / scale[c]! : (v) => v;
    }
    case "MaxAbsScaler": {
      const scale = Float64Array.from(s.scale);
      if (sparse) {
        const inv = scale.map((x) => 1 / x);
        return (v, c) => v * inv[c]!;
      }
      return (v, c) => v / scale[c]!;
    }
    case "MinMaxScaler": {
      // X *= scale_; X += min_; then np.clip(X, lo, hi) = minimum(maximum(X, lo), hi)
      const scale = Float64Array.from(s.scale);
      const min = Float64Array.from(s.min);
      const clip = s.clip;
      if (clip) return (v, c) => Math.min(Math.max(v * scale[c]! + min[c]!, clip[0]), clip[1]);
      return (v, c) => v * scale[c]! + min[c]!;
    }
  }
}

export interface Scaling {
  /** Scale a vectorized batch in place: val[k * stride + r] wherever col[k * stride + r] >= 0. */
  apply(col: Int32Array, val: Float64Array, stride: number, nFields: number, n: number): void;
  /** What each unset feature becomes (dense input only); null when every unset feature stays 0. */
  defaults: Float64Array | null;
}

export function compileScalers(specs: ScalerSpec[] | undefined, nFeatures: number, sparse: boolean): Scaling | null {
  if (!specs?.length) return null;
  const steps = specs.map((s) => stepOf(s, sparse));
  const chain = (v: number, c: number) => {
    for (const step of steps) v = step(v, c);
    return v;
  };
  let defaults: Float64Array | null = null;
  if (!sparse) {
    const d = new Float64Array(nFeatures);
    for (let c = 0; c < nFeatures; c++) d[c] = chain(0, c);
    if (d.some((x) => x !== 0)) defaults = d;
  }
  return {
    defaults,
    apply(col, val, stride, nFields, n) {
      for (let k = 0; k < nFields; k++) {
        for (let r = 0, at = k * stride; r < n; r++, at++) {
          const c = col[at]!;
          if (c >= 0) val[at] = chain(val[at]!, c);
        }
      }
    },
  };
}
