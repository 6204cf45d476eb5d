// Request and response shapes as TypeBox schemas: fastify validates bodies with them and /openapi.json
// publishes them. Values inside rows are the predictor's to judge (it names the field and the reason).
import { Type, type Static } from "@sinclair/typebox";

const Value = Type.Unknown({ description: "a category (string or integer) or a number, per the model's inputs" });

export const Ride = Type.Object(
  {},
  { additionalProperties: true, description: 'One ride keyed by input name, e.g. {"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}' },
);

export const ErrorBody = Type.Object({
  error: Type.String(),
  details: Type.Array(Type.Object({ field: Type.String(), reason: Type.String(), row: Type.Optional(Type.Integer({ minimum: 0 })) })),
});

export const DataframeSplit = Type.Object(
  {
    columns: Type.Array(Type.String()),
    data: Type.Array(Type.Array(Value)),
    index: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: false },
);

export const MlflowBody = Type.Object(
  {
    dataframe_split: Type.Optional(DataframeSplit),
    dataframe_records: Type.Optional(Type.Array(Type.Unknown())),
    instances: Type.Optional(Type.Unknown({ description: "rows (objects or arrays in input order) or named columns" })),
    inputs: Type.Optional(Type.Unknown({ description: "named columns, or rows (objects or arrays in input order)" })),
    params: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: true, description: "MLflow scoring protocol: exactly one of dataframe_split, dataframe_records, instances, inputs" },
);
export type MlflowBody = Static<typeof MlflowBody>;

export const MlflowResponse = Type.Object({ predictions: Type.Array(Type.Number()) });

const Parameters = Type.Object({}, { additionalProperties: true });

export const V2Tensor = Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer({ minimum: 0 })),
  datatype: Type.String(),
  parameters: Type.Optional(Parameters),
  data: Type.Array(Type.Unknown()),
});

export const V2InferBody = Type.Object({
  id: Type.Optional(Type.String()),
  parameters: Type.Optional(Parameters),
  inputs: Type.Array(V2Tensor, { minItems: 1 }),
  outputs: Type.Optional(Type.Array(Type.Object({ name: Type.String(), parameters: Type.Optional(Parameters) }))),
});
export type V2InferBody = Static<typeof V2InferBody>;

export const V2InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.String(),
  parameters: Type.Optional(Parameters),
  outputs: Type.Array(V2Tensor),
});

const TensorMeta = Type.Object({ name: Type.String(), datatype: Type.String(), shape: Type.Array(Type.Integer()) });
export const V2ModelMetadata = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String()),
  platform: Type.String(),
  inputs: Type.Array(TensorMeta),
  outputs: Type.Array(TensorMeta),
});

export const V2ModelParams = Type.Object({ name: Type.String(), version: Type.Optional(Type.String()) });
export type V2ModelParams = Static<typeof V2ModelParams>;
