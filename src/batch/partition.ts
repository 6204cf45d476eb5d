// Where each input's predictions go: the output path is a template filled per input, from its fields
// (the run date's, --set's, what its pattern matched), {input} (its file name without extension),
// {run_id} and {shard}. Hive-style partitions are just such a template:
//   out/taxi_type={taxi_type}/year={year}/month={month}/{run_id}.parquet
// And shards: --shard INDEX/COUNT (or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with
// RIDEPRED_SHARD_COUNT) gives each worker a disjoint, deterministic share of the inputs.
import { createHash } from "node:crypto";
import { RidepredError } from "../errors.js";
import { redactLocation } from "../io/redact.js";
import type { Input } from "./inputs.js";

/** Fill every {name} from values; a name it does not know is an error, so a typo cannot write to a literal path. */
export function fillOutput(template: string, values: Record<string, string>, flag = "--output"): string {
  return template.replace(/\{([^}]*)\}/g, (all, name: string) => {
    const v = values[name];
    if (v !== undefined) return v;
    const known = Object.keys(values).sort();
    throw new RidepredError(
      `${flag} ${redactLocation(template)}: unknown placeholder ${all} (known here: ${known.map((k) => `{${k}}`).join(", ")}; --set NAME=VALUE adds one)`,
    );
  });
}

/** {input}: the input's file name without its extension(s) and without a URL's query. */
export function inputName(path: string): string {
  if (path === "-") return "stdin";
  const file =
    path
      .replace(/[?#].*$/, "")
      .replace(/\/+$/, "")
      .split("/")
      .pop() ?? path;
  return file.replace(/\.(csv\.gz|csv|parquet|pq|jsonl|ndjson)$/i, "");
}

/**
 * {run_id}: what makes a run's output what it is: the input (its path), the model (its digest) and
 * every option that changes the rows written. The same input scored the same way gets the same name
 * whether alone, in a backfill or in a shard, so a re-run replaces its own file instead of adding one
 * that readers of the partition would count twice.
 */
export function runId(input: string, modelDigest: string, options: Record<string, unknown>): string {
  const canonical = JSON.stringify({ input, model: modelDigest, options: sortKeys(options) });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

export interface Shard {
  index: number;
  count: number;
}

/** --shard INDEX/COUNT, else JOB_COMPLETION_INDEX + RIDEPRED_SHARD_COUNT, else no sharding. */
export function parseShard(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  let spec = flag;
  let from = "--shard";
  if (spec === undefined && env.JOB_COMPLETION_INDEX !== undefined && env.JOB_COMPLETION_INDEX !== "") {
    if (!env.RIDEPRED_SHARD_COUNT) throw new RidepredError("JOB_COMPLETION_INDEX is set but RIDEPRED_SHARD_COUNT is not: set it to the Job's completions");
    spec = `${env.JOB_COMPLETION_INDEX}/${env.RIDEPRED_SHARD_COUNT}`;
    from = "JOB_COMPLETION_INDEX/RIDEPRED_SHARD_COUNT";
  }
  if (spec === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || !(count >= 1) || !(index < count)) throw new RidepredError(`${from} ${spec}: expected INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/3`);
  return { index, count };
}

/** One unit of work: an input, whole or (one big Parquet file over several shards) some of its row groups. */
export interface Assignment {
  input: Input;
  shard: number;
  /** Row groups g with g % count === shard; absent: the whole input. */
  rowGroups?: Shard;
}

/**
 * Every shard's work, computed identically by each worker (no coordinator): with at least as many inputs
 * as shards, whole inputs round-robin in path order; with fewer, each Parquet input's row groups
 * round-robin (its output then needs {shard}), and any other input goes whole to shard i % COUNT.
 */
export function assignShards(inputs: readonly Input[], shard: Shard | undefined, isParquet: (path: string) => boolean): Assignment[] {
  const count = shard?.count ?? 1;
  if (count === 1 || inputs.length >= count) return inputs.map((input, i) => ({ input, shard: i % count }));
  const out: Assignment[] = [];
  inputs.forEach((input, i) => {
    if (isParquet(input.path)) for (let s = 0; s < count; s++) out.push({ input, shard: s, rowGroups: { index: s, count } });
    else out.push({ input, shard: i % count });
  });
  return out;
}

/**
 * The output path of every assignment, and the checks that make them safe: with shards, {shard} (or
 * {input} or {run_id}, which separate whole inputs) must be in the path, {shard} when a file's row
 * groups are split; and no two assignments of the whole run (every shard's) may write the same path.
 */
export function planOutputs(
  template: string,
  work: readonly Assignment[],
  values: (a: Assignment) => Record<string, string>,
  shard: Shard | undefined,
  flag = "--output",
): string[] {
  const has = (name: string) => template.includes(`{${name}}`);
  if (shard && shard.count > 1) {
    if (work.some((a) => a.rowGroups) && !has("shard"))
      throw new RidepredError(
        `${flag} ${redactLocation(template)}: with fewer inputs than shards each Parquet file is split by row groups: put {shard} in the path`,
      );
    if (!has("shard") && !has("input") && !has("run_id"))
      throw new RidepredError(
        `${flag} ${redactLocation(template)}: with ${shard.count} shards the path must name each shard's files: add {shard} (or {input})`,
      );
  }
  const paths = work.map((a) => (template === "-" ? "-" : fillOutput(template, values(a), flag)));
  if (work.length > 1) {
    const first = new Map<string, Assignment>();
    for (const [i, p] of paths.entries()) {
      const other = first.get(p);
      if (other)
        throw new RidepredError(
          `${flag} ${redactLocation(template)}: ${redactLocation(other.input.path)} and ${redactLocation(work[i]!.input.path)} would both write ${redactLocation(p)}: name each input's output with {input} or its partition fields`,
        );
      first.set(p, work[i]!);
    }
  }
  return paths;
}
