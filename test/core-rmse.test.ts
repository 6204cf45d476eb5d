// The bundled model, run by ridepred on the real validation month, gives the recipe's RMSE: 7.7587.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { loadModel } from "../src/runtime/load.js";

const FEB = join(__dirname, "../../shared/data/green_tripdata_2021-02.parquet");

describe.skipIf(!existsSync(FEB))("validation RMSE on green 2021-02 (skipped without ../shared)", () => {
  it("is 7.7587 minutes, as scikit-learn reported at training time", async () => {
    const rows = await parquetReadObjects({
      file: await asyncBufferFromFile(FEB),
      columns: ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"],
    });
    const { predictor } = loadModel();
    let se = 0;
    let n = 0;
    for (const r of rows) {
      const minutes = ((r.lpep_dropoff_datetime as Date).getTime() - (r.lpep_pickup_datetime as Date).getTime()) / 60000;
      if (minutes < 1 || minutes > 60) continue;
      const d = predictor.predict(r) - minutes;
      se += d * d;
      n++;
    }
    expect(n).toBe(61921);
    expect(Math.sqrt(se / n)).toBeCloseTo(7.7587, 4);
  });
});
