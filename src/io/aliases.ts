// Real trip files name the same thing many ways: green lpep_*, yellow tpep_*, snake_case exports
// (pickup_location_id). Targets (model inputs and the job's own roles) are found by name, by a
// built-in alias, or by an explicit --map COLUMN=TARGET.
import { RidepredError } from "../errors.js";

/** Built-in aliases per target, tried in order after the target's own name. */
export const ALIASES: Readonly<Record<string, readonly string[]>> = {
  PULocationID: ["pickup_location_id", "pu_location_id", "pulocation_id", "PUlocationID"],
  DOLocationID: ["dropoff_location_id", "do_location_id", "dolocation_id", "DOlocationID"],
  trip_distance: ["trip_miles", "distance"],
  pickup_datetime: ["lpep_pickup_datetime", "tpep_pickup_datetime", "Trip_Pickup_DateTime"],
  dropoff_datetime: ["lpep_dropoff_datetime", "tpep_dropoff_datetime", "Trip_Dropoff_DateTime"],
  ride_id: ["trip_id"],
};

/** Lower case without separators: "PULocationID" ~ "pulocationid", "pickup_location_id" ~ "pickuplocationid". */
const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/**
 * Which input column feeds each target. `map` is COLUMN -> TARGET as given on the command line.
 * A target with no column maps to undefined (the caller decides whether that is an error).
 */
export function resolveColumns(
  names: readonly string[],
  targets: readonly string[],
  map: Readonly<Record<string, string>> = {},
): Record<string, string | undefined> {
  const have = new Set(names);
  const byNorm = new Map<string, string>();
  for (const n of names) if (!byNorm.has(norm(n))) byNorm.set(norm(n), n);
  const out: Record<string, string | undefined> = {};
  const mapped = new Map<string, string>();
  for (const [column, target] of Object.entries(map)) {
    if (!have.has(column)) throw new RidepredError(`--map ${column}=${target}: the input has no column ${column} (columns: ${names.join(", ")})`);
    mapped.set(target, column);
  }
  for (const t of targets) {
    const explicit = mapped.get(t);
    if (explicit) {
      out[t] = explicit;
      continue;
    }
    const candidates = [t, ...(ALIASES[t] ?? [])];
    out[t] = candidates.find((c) => have.has(c)) ?? candidates.map((c) => byNorm.get(norm(c))).find((c) => c !== undefined);
  }
  return out;
}

/** The names tried for a target, for an error message: its own name, then its aliases, each once. */
export function triedNames(target: string): string[] {
  return [...new Set([target, ...(ALIASES[target] ?? [])])];
}
