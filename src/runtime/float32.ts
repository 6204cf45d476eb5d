// Steps between float32 values, shared by the predictor (XGBoost's strict splits) and the SQL exporter.

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);

/**
 * The largest float32 strictly below t, for any float64 t (a float32 value or not); NaN (x <= NaN is never
 * true) when t is -Infinity or NaN. Below +0 and -0 alike: the negative float32 nearest zero.
 */
export function float32Below(t: number): number {
  if (t === -Infinity || t !== t) return Number.NaN;
  const near = Math.fround(t);
  if (near < t) return near;
  // near >= t: the float32 just below near is below t (else it, not near, would be nearest to t).
  if (near === 0) return -(2 ** -149);
  f32[0] = near;
  f32Bits[0]! += near > 0 ? -1 : 1;
  return f32[0]!;
}
