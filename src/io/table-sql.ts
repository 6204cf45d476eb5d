// SQL text shared by the PostgreSQL and DuckDB sources and sinks: the run-period placeholders, and the
// statements that merge staged rows into the target table.
import { RidepredError } from "../errors.js";
import { formatTimestamp } from "./timestamp.js";
import type { RunPeriod } from "./types.js";

/** A timestamp literal rendered from a parsed date: the only way a run's date enters SQL text. */
export const timestampLiteral = (ms: number): string => `TIMESTAMP '${formatTimestamp(ms)}'`;

/**
 * {start} {end} (timestamp literals: the period is [start, end)) and {year} {month} {day} (integers) in
 * a --where or --query. COPY takes no bound parameters, so the values are rendered here from the parsed
 * run date; nothing the user typed besides the SQL itself reaches the statement. Write them bare:
 * `pickup_datetime >= {start}`, not `'{start}'`.
 */
export function fillSql(sql: string, period: RunPeriod | undefined, flag: string): string {
  return sql.replace(/\{([A-Za-z_]+)\}/g, (all, name: string) => {
    if (!period) throw new RidepredError(`${flag}: ${all} needs a run period (--run-date, --period)`);
    switch (name) {
      case "start":
        return timestampLiteral(period.start);
      case "end":
        return timestampLiteral(period.end);
      case "year":
        return String(period.year);
      case "month":
        return String(period.month);
      case "day":
        return String(period.day);
    }
    throw new RidepredError(`${flag}: unknown placeholder ${all} (use {start}, {end}, {year}, {month}, {day})`);
  });
}
