// How the CSV reader is asked to parse a green taxi file's model and time columns, for the tests that
// compare its parsed cells with their texts (csv-cells) and the threaded reader with the one-thread one.
import type { ColumnUse } from "../../src/io/types.js";

export const GREEN_PARSE: Record<string, ColumnUse> = {
  lpep_pickup_datetime: "timestamp",
  lpep_dropoff_datetime: "timestamp",
  PULocationID: "category",
  DOLocationID: "category",
  trip_distance: "number",
};
