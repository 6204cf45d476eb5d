// Where the tests find the CLI they run, the committed samples and the real data (../shared beside the
// checkout, absent in some clones: tests that need it skip, saying so).
import { existsSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const BIN = join(ROOT, "bin", "ridepred");
export const SAMPLE_PQ = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
export const SAMPLE_CSV = join(ROOT, "examples/green_tripdata_2021-02_sample.csv");
export const SHARED = join(ROOT, "../shared/data");
export const hasShared = existsSync(join(SHARED, "green_tripdata_2023-01.parquet"));
export const FIXTURES = join(ROOT, "test/fixtures");
