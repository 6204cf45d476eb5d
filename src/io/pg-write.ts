import { RidepredError } from "../errors.js";
import type { SinkOptions } from "./index.js";
import type { PgLocation } from "./table-url.js";
import type { OutColumn, Sink } from "./types.js";

export async function openPgSink(loc: PgLocation, _columns: readonly OutColumn[], _options: SinkOptions): Promise<Sink> {
  throw new RidepredError(`${loc.label}: PostgreSQL output is not implemented yet`);
}
