import { RidepredError } from "../errors.js";
import type { SourceOptions } from "./index.js";
import type { PgLocation } from "./table-url.js";
import type { BatchSource } from "./types.js";

export async function openPgSource(loc: PgLocation, _options: SourceOptions): Promise<BatchSource> {
  throw new RidepredError(`${loc.label}: PostgreSQL input is not implemented yet`);
}
