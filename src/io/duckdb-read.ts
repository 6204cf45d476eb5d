import { RidepredError } from "../errors.js";
import type { SourceOptions } from "./index.js";
import type { DuckdbLocation } from "./table-url.js";
import type { BatchSource } from "./types.js";

export async function openDuckdbSource(loc: DuckdbLocation, _options: SourceOptions): Promise<BatchSource> {
  throw new RidepredError(`${loc.label}: DuckDB input is not implemented yet`);
}
