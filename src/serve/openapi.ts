// /openapi.json: the routes and their TypeBox schemas, with the served model's inputs filled in.
import type { LoadedModel } from "../runtime/load.js";
import { VERSION } from "../version.js";
import * as S from "./schemas.js";

const json = (schema: unknown) => ({ "application/json": { schema } });
const errors = {
  "400": { description: "The request was wrong; details name the field (and row)", content: json({ $ref: "#/components/schemas/Error" }) },
  "413": { description: "Body larger than the limit", content: json({ $ref: "#/components/schemas/Error" }) },
  "415": { description: "Unsupported content type", content: json({ $ref: "#/components/schemas/Error" }) },
  "503": { description: "No model loaded yet", content: json({ $ref: "#/components/schemas/Error" }) },
};
const ok = (description: string, schema: unknown = { type: "object" }) => ({ "200": { description, content: json(schema) } });
const get = (summary: string, schema?: unknown) => ({ get: { summary, responses: ok(summary, schema) } });

export function openapi(m: LoadedModel | null): unknown {
  const ride = m
    ? {
        type: "object",
        description: S.Ride.description,
        properties: Object.fromEntries(
          m.artifact.inputs.map((i) => [
            i.name,
            {
              description: `${i.type}${i.description ? `: ${i.description}` : ""}`,
              ...(i.type === "number" ? { type: ["number", "string"] } : { type: ["string", "integer"] }),
            },
          ]),
        ),
        required: m.artifact.inputs.filter((i) => i.required && i.default === undefined).map((i) => i.name),
      }
    : S.Ride;
  const target = m?.artifact.target.name ?? "duration";
  // A classifier answers its label and each class's probability (runtime/outputs.ts names them).
  const c = m?.artifact.classifier;
  const label = c ? { enum: c.classes } : { type: "number" };
  const probabilities = c ? { probabilities: { type: "object", properties: Object.fromEntries(c.class_names.map((n) => [n, { type: "number" }])) } } : {};
  const result = {
    type: "object",
    properties: { [target]: label, ...probabilities, model_version: { type: "string" } },
    required: [target, ...(c ? ["probabilities"] : []), "model_version"],
  };
  const name = m?.artifact.name ?? "{name}";
  const v2 = `/v2/models/${name}`;
  const params = [{ name: "version", in: "path", required: true, schema: { type: "string" } }];
  const ex = examples(m);
  return {
    openapi: "3.1.0",
    info: {
      title: "ridepred",
      version: VERSION,
      description: m ? modelCard(m) : "No model loaded yet",
    },
    components: { schemas: { Error: S.ErrorBody, Ride: ride } },
    paths: {
      "/predict": {
        post: {
          summary: "The course's endpoint: one ride or an array of rides",
          requestBody: {
            required: true,
            content: withExample(
              json({ anyOf: [{ $ref: "#/components/schemas/Ride" }, { type: "array", items: { $ref: "#/components/schemas/Ride" } }] }),
              ex.ride,
            ),
          },
          responses: { ...ok("One result per ride (an array for an array)", { anyOf: [result, { type: "array", items: result }] }), ...errors },
        },
      },
      "/invocations": {
        post: {
          summary: "MLflow scoring protocol",
          requestBody: {
            required: true,
            content: {
              ...withExample(json(S.MlflowBody), ex.mlflow),
              "text/csv": { schema: { type: "string", description: "CSV with a header line naming the inputs" }, ...(ex.csv ? { example: ex.csv } : {}) },
            },
          },
          responses: { ...ok("Predictions in row order", S.MlflowResponse), ...errors },
        },
      },
      "/ping": get("MLflow liveness+readiness: 200 once the model serves, 503 before"),
      "/health": get("Same as /ping"),
      "/version": {
        get: { summary: "ridepred version", responses: { "200": { description: "version", content: { "text/plain": { schema: { type: "string" } } } } } },
      },
      "/v2": get("V2 server metadata"),
      "/v2/health/live": get("V2 liveness"),
      "/v2/health/ready": get("V2 readiness: 200 once the model is loaded and its golden examples reproduce, 503 before"),
      [v2]: get("V2 model metadata", S.V2ModelMetadata),
      [`${v2}/ready`]: get("V2 model readiness"),
      [`${v2}/infer`]: {
        post: {
          summary: "V2 inference: one tensor per input, shape [n] or [n,1]",
          requestBody: { required: true, content: withExample(json(S.V2InferBody), ex.v2) },
          responses: { ...ok("Outputs", S.V2InferResponse), ...errors },
        },
      },
      [`${v2}/versions/{version}`]: { get: { summary: "V2 model metadata for a version", parameters: params, responses: ok("metadata", S.V2ModelMetadata) } },
      [`${v2}/versions/{version}/ready`]: { get: { summary: "V2 model readiness for a version", parameters: params, responses: ok("readiness") } },
      [`${v2}/versions/{version}/infer`]: {
        post: {
          summary: "V2 inference for a version",
          parameters: params,
          requestBody: { required: true, content: withExample(json(S.V2InferBody), ex.v2) },
          responses: { ...ok("Outputs", S.V2InferResponse), ...errors },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          responses: { "200": { description: "text exposition format", content: { "text/plain": { schema: { type: "string" } } } } },
        },
      },
      "/openapi.json": get("This document"),
      "/docs": {
        get: {
          summary: "This document as an interactive page",
          responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } } },
        },
      },
    },
  };
}

/** The page's heading: what is served, its digest, and the library versions it was built with. */
function modelCard(m: LoadedModel): string {
  const a = m.artifact;
  const env = a.environment;
  const pins = Object.entries(env.recorded)
    .map(([k, v]) => `\`${k} ${v}\``)
    .join(", ");
  return [
    `Serving **${a.name}** version **${a.version}**${a.description ? `: ${a.description}` : ""}`,
    "",
    `- target: \`${a.target.name}\` (${a.target.unit})`,
    `- inputs: ${a.inputs.map((i) => `\`${i.name}\` (${i.type}${i.required ? "" : ", optional"})`).join(", ")}`,
    `- digest: \`${a.digest}\``,
    `- built with: ${pins || "(no versions recorded)"}`,
    `- source: \`${env.source.file}\` (${env.source.format}, sha256 \`${env.source.sha256.slice(0, 16)}...\`)`,
  ].join("\n");
}

/** Example requests from the model's first golden examples: every "Try it out" runs as it is. */
function examples(m: LoadedModel | null): { ride?: unknown; mlflow?: unknown; csv?: string; v2?: unknown } {
  const cases = m?.artifact.examples.cases.slice(0, 2) ?? [];
  if (!m || cases.length === 0) return {};
  const names = m.artifact.inputs.map((i) => i.name);
  const rows = cases.map((c) => names.map((n) => c.input[n] ?? null));
  return {
    ride: cases[0]!.input,
    mlflow: { dataframe_split: { columns: names, data: rows } },
    csv: [names.join(","), ...rows.map((r) => r.map((v) => (v === null ? "" : String(v))).join(","))].join("\n") + "\n",
    v2: {
      inputs: m.artifact.inputs.map((inp, j) => ({
        name: inp.name,
        shape: [rows.length],
        datatype: inp.type === "number" ? "FP64" : "BYTES",
        data: rows.map((r) => (inp.type === "number" ? Number(r[j]) : String(r[j]))),
      })),
    },
  };
}

function withExample(content: Record<string, { schema: unknown }>, example: unknown): Record<string, { schema: unknown; example?: unknown }> {
  if (example === undefined) return content;
  return Object.fromEntries(Object.entries(content).map(([type, c]) => [type, { ...c, example }]));
}
