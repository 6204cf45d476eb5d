import { RidepredError } from "../errors.js";
import type { SinkOptions } from "./index.js";
import type { DuckdbLocation } from "./table-url.js";
import type { OutColumn, Sink } from "./types.js";

export async function openDuckdbSink(loc: DuckdbLocation, _columns: readonly OutColumn[], _options: SinkOptions): Promise<Sink> {
  throw new RidepredError(`${loc.label}: DuckDB output is not implemented yet`);
}
