// Open Inference Protocol V2 (KServe, MLServer, Triton) over REST: health, metadata, and columnar infer.
import type { LoadedModel } from "../../runtime/load.js";
import { VERSION } from "../../version.js";
import { outputsOf, v2Outputs } from "../../runtime/outputs.js";
import { fromColumns, scoreRows } from "../batch.js";
import { badRequest, HttpError, type ErrorDetail } from "../errors.js";
import { V2InferBody, V2ModelParams } from "../schemas.js";
import { ready, type App, type ServeContext } from "./context.js";

export function v2Routes(app: App, ctx: ServeContext): void {
  const { state, metrics } = ctx;

  app.get("/v2", async () => ({ name: "ridepred", version: VERSION, extensions: [] as string[] }));
  app.get("/v2/health/live", async () => ({ live: true }));
  app.get("/v2/health/ready", async (_req, reply) => reply.code(state.current ? 200 : 503).send({ ready: state.current !== null }));

  for (const base of ["/v2/models/:name", "/v2/models/:name/versions/:version"]) {
    app.get(base, { schema: { params: V2ModelParams } }, async (req) => metadata(named(ready(state), req.params)));
    app.get(`${base}/ready`, { schema: { params: V2ModelParams } }, async (req, reply) => {
      const m = state.current;
      if (m) named(m, req.params);
      return reply.code(m ? 200 : 503).send({ name: req.params.name, ready: m !== null });
    });
    app.post(`${base}/infer`, { schema: { params: V2ModelParams, body: V2InferBody } }, async (req) => {
      const m = named(ready(state), req.params);
      const body = req.body;
      const o = outputsOf(m.artifact);
      const names = o.v2.map((t) => t.name);
      const unknown = body.outputs?.filter((t) => !names.includes(t.name)) ?? [];
      if (unknown.length)
        throw badRequest(
          "unknown output requested",
          unknown.map((t) => ({ field: "outputs", reason: `this model's outputs are ${names.map((n) => `"${n}"`).join(", ")}; no "${t.name}"` })),
        );
      const { predictions: y, probabilities } = scoreRows(m.predictor, fromColumns(m.predictor, tensorsToColumns(body.inputs), "inputs"));
      metrics.predictions(y, o.classes && o.classNames);
      // Only the outputs asked for, when the request names some (the protocol's "outputs").
      const asked = body.outputs?.length ? new Set(body.outputs.map((t) => t.name)) : null;
      return {
        model_name: m.artifact.name,
        model_version: m.artifact.version,
        id: body.id ?? req.id,
        outputs: v2Outputs(o, y, probabilities, y.length).filter((t) => asked === null || asked.has(t.name)),
      };
    });
  }
}

/** The served model if the path names it (and its version, when given); 404 otherwise. */
function named(m: LoadedModel, params: V2ModelParams): LoadedModel {
  const a = m.artifact;
  if (params.name !== a.name) throw new HttpError(404, `model "${params.name}" not found`, [{ field: "name", reason: `this server serves "${a.name}"` }]);
  if (params.version !== undefined && params.version !== a.version) {
    throw new HttpError(404, `model "${params.name}" version "${params.version}" not found`, [
      { field: "version", reason: `this server serves version "${a.version}"` },
    ]);
  }
  return m;
}

function metadata(m: LoadedModel) {
  const a = m.artifact;
  return {
    name: a.name,
    versions: [a.version],
    platform: "ridepred",
    inputs: a.inputs.map((i) => ({ name: i.name, datatype: i.type === "number" ? "FP64" : "BYTES", shape: [-1] })),
    outputs: outputsOf(a).v2,
  };
}

/** V2 tensors -> named columns. Each must be one column: shape [n] or [n, 1], data flat or one level nested. */
function tensorsToColumns(inputs: V2InferBody["inputs"]): Record<string, unknown[]> {
  const cols: Record<string, unknown[]> = {};
  const bad: ErrorDetail[] = [];
  inputs.forEach((t, k) => {
    const field = `inputs[${k}]`;
    if (t.name in cols) bad.push({ field: `${field}.name`, reason: `"${t.name}" is given twice` });
    const data = t.data.some(Array.isArray) ? (t.data as unknown[]).flat() : t.data;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length === 0 || t.shape.length > 2 || (t.shape.length === 2 && t.shape[1] !== 1)) {
      bad.push({ field: `${field}.shape`, reason: `[${t.shape.join(", ")}] is not a column; expected [n] or [n, 1]` });
    } else if (size !== data.length) {
      bad.push({ field: `${field}.data`, reason: `has ${data.length} values but shape [${t.shape.join(", ")}] says ${size}` });
    }
    cols[t.name] = data;
  });
  if (bad.length) throw badRequest("malformed input tensors", bad);
  return cols;
}
