// s3:// and https:// inputs and outputs through the real binary: s3rver (a real S3 server, on a loopback
// port, storing in a temp dir) and a node:https server with a certificate made here by openssl. The
// outputs equal the local run's bytes; Parquet is read by explicit ranges of what the job needs; a run
// that fails or is killed (SIGKILL mid-upload) leaves no object under the key.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, hasShared, ROOT, SAMPLE_CSV, SAMPLE_PQ, SHARED } from "./support/paths.js";
import { startS3, type TestS3 } from "./support/s3rver.js";

let tmp: string;
let s3: TestS3;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child (async: the servers live in this process and must keep answering). */
function ridepred(args: string[], env: Record<string, string | undefined> = {}, cwd = tmp, onSpawn?: (kill: () => void) => void): Promise<Run> {
  return new Promise((resolve) => {
    const full: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...env };
    for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: full, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    onSpawn?.(() => child.kill("SIGKILL"));
  });
}

/** The local run of the same file under the same name (ride ids come from the file name): the reference bytes. */
async function localRun(file: string, name: string, out: string, more: string[] = []): Promise<Buffer> {
  const dir = mkdtempSync(join(tmp, "local-"));
  copyFileSync(file, join(dir, name));
  const r = await ridepred(["score", name, "-o", out, ...more], {}, dir);
  expect(r.code, r.stderr).toBe(0);
  return readFileSync(join(dir, out));
}

/** Outputs are compared by digest: a failing toEqual on megabyte buffers spends minutes on its diff. */
const sha = (b: Buffer | undefined) => (b === undefined ? "no object" : `${createHash("sha256").update(b).digest("hex")} (${b.length} bytes)`);

/** The first read of a Parquet file: its last 64 KiB, where the footer is. */
const FOOTER_READ = 1 << 16;
/** The compressed size of the column chunks the default job reads (the model's inputs and the two times). */
async function neededBytes(file: string): Promise<number> {
  const wanted = new Set(["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"]);
  const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
  let n = 0;
  for (const g of md.row_groups) for (const c of g.columns) if (wanted.has(c.meta_data!.path_in_schema[0]!)) n += Number(c.meta_data!.total_compressed_size);
  return n;
}

/** n bytes of a range source from position. */
async function readAt(src: { read(buf: Uint8Array, position: number): Promise<number> }, position: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  return buf.subarray(0, await src.read(buf, position));
}

/** A recording proxy in front of s3rver: each request's method, path, Range header and response bytes. */
async function proxy(target: string) {
  const log: { method: string; url: string; range?: string; bytes: number }[] = [];
  const t = new URL(target);
  const server = createHttpServer((req, res) => {
    const entry = { method: req.method!, url: req.url!, range: req.headers.range, bytes: 0 };
    log.push(entry);
    const up = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.on("data", (c: Buffer) => (entry.bytes += c.length));
      r.pipe(res);
      res.on("close", () => r.destroy()); // a client that let go: the upstream answer is dropped, not left hanging
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log, close: () => new Promise((r) => server.close(r)) };
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-s3-"));
  s3 = await startS3(["b", "tlc-data"]);
  await s3.put("b", "raw/green_tripdata_2021-02_sample.parquet", readFileSync(SAMPLE_PQ));
  await s3.put("b", "raw/green_tripdata_2021-02_sample.csv", readFileSync(SAMPLE_CSV));
});

afterAll(async () => {
  await s3?.stop();
});

// Each case runs the CLI a few times; on a loaded CI machine that takes a while.
const SLOW = 300_000;

describe("s3:// against s3rver", { timeout: SLOW }, () => {
  it("Parquet in, Parquet and CSV out: the same bytes as the local run", async () => {
    const r = await ridepred(["score", "s3://b/raw/green_tripdata_2021-02_sample.parquet", "-o", "s3://b/out/sample.parquet", "--json"], s3.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      input: "s3://b/raw/green_tripdata_2021-02_sample.parquet",
      output: "s3://b/out/sample.parquet",
      scored: 1000,
    });
    expect(sha(await s3.get("b", "out/sample.parquet"))).toBe(sha(await localRun(SAMPLE_PQ, "green_tripdata_2021-02_sample.parquet", "o.parquet")));
    const c = await ridepred(["score", "s3://b/raw/green_tripdata_2021-02_sample.parquet", "-o", "s3://b/out/sample.csv"], s3.env);
    expect(c.code, c.stderr).toBe(0);
    expect(sha(await s3.get("b", "out/sample.csv"))).toBe(sha(await localRun(SAMPLE_PQ, "green_tripdata_2021-02_sample.parquet", "o.csv")));
  });

  it("CSV in (streamed), CSV and Parquet out: the same bytes as the local run", async () => {
    const r = await ridepred(["score", "s3://b/raw/green_tripdata_2021-02_sample.csv", "-o", "s3://b/out/from-csv.csv"], s3.env);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(await s3.get("b", "out/from-csv.csv"))).toBe(sha(await localRun(SAMPLE_CSV, "green_tripdata_2021-02_sample.csv", "o.csv")));
    const p = await ridepred(["score", "s3://b/raw/green_tripdata_2021-02_sample.csv", "-o", "s3://b/out/from-csv.parquet"], s3.env);
    expect(p.code, p.stderr).toBe(0);
    expect(sha(await s3.get("b", "out/from-csv.parquet"))).toBe(sha(await localRun(SAMPLE_CSV, "green_tripdata_2021-02_sample.csv", "o.parquet")));
  });

  it("--dry-run of large CSV objects, plain and gzip: each opened (its header checked), its download let go, the process ends", async () => {
    // ~50 MB of CSV (~25 MB gzip'd: a column of random bytes keeps gzip from shrinking it much), far
    // more than sockets and streams buffer (~2 MB crossed here), so a download not let go shows whole.
    const { randomBytes } = await import("node:crypto");
    const { gzipSync } = await import("node:zlib");
    const [header, ...rows] = readFileSync(SAMPLE_CSV, "utf8").trimEnd().split("\n");
    const lines = [`${header},noise`];
    for (let i = 0; lines.length <= 300_000; i++) lines.push(`${rows[i % rows.length]},${randomBytes(48).toString("base64")}`);
    const noise = lines.join("\n") + "\n";
    const zipped = gzipSync(noise, { level: 1 });
    expect(zipped.length).toBeGreaterThan(16 << 20);
    await s3.put("b", "big/plain.csv", Buffer.from(noise));
    await s3.put("b", "big/zipped.csv.gz", zipped);
    await s3.put("b", "big/renamed.csv.gz", gzipSync(lines.slice(0, 1000).join("\n").replace("PULocationID", "pu_location")));
    const p = await proxy(s3.endpoint);
    try {
      const r = await ridepred(["score", "s3://b/big/plain.csv", "s3://b/big/zipped.csv.gz", "-o", "x/{input}.csv", "--dry-run", "--json"], {
        ...s3.env,
        AWS_ENDPOINT_URL_S3: p.url,
      });
      expect(r.code, r.stderr).toBe(0);
      const sizes = [Buffer.byteLength(noise), zipped.length];
      expect(JSON.parse(r.stdout).jobs.map((j: { bytes: number }) => j.bytes)).toEqual(sizes);
      // Each object's GET stopped soon after its header: what crossed is a fraction of the object.
      const got = ["plain.csv", "zipped.csv.gz"].map((k) => p.log.filter((e) => e.method === "GET" && e.url.startsWith(`/b/big/${k}`)));
      expect(got.map((g) => g.length)).toEqual([1, 1]);
      for (const [i, g] of got.entries()) expect(g[0]!.bytes, `${g[0]!.url}: ${g[0]!.bytes} of ${sizes[i]} bytes`).toBeLessThan(sizes[i]! / 2);
    } finally {
      await p.close();
    }
    const bad = await ridepred(["score", "s3://b/big/renamed.csv.gz", "-o", "x.csv", "--dry-run"], s3.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ridepred: s3:\/\/b\/big\/renamed\.csv\.gz: no column for model input PULocationID/);
  });

  it("errors: a missing key or bucket exits 2 naming the URL; no credentials are printed", async () => {
    const r = await ridepred(["score", "s3://b/raw/nope.parquet", "-o", "x.csv"], s3.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/s3:\/\/b\/raw\/nope\.parquet: cannot read: no such object/);
    const c = await ridepred(["score", "s3://b/raw/nope.csv", "-o", "x.csv"], s3.env);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/s3:\/\/b\/raw\/nope\.csv: cannot read: no such object/);
    const g = await ridepred(["score", "s3://b/nothing/*.parquet", "-o", "s3://b/out/{input}.csv"], s3.env);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/s3:\/\/b\/nothing\/\*\.parquet: matches no file/);
    for (const x of [r, c, g]) expect(x.stderr).not.toContain("S3RVER");
  });

  describe.skipIf(!hasShared)("the real months (skipped: ../shared/data is absent)", () => {
    beforeAll(async () => {
      for (const m of ["2021-01", "2021-02", "2023-01"])
        await s3.put("b", `tlc/green_tripdata_${m}.parquet`, readFileSync(join(SHARED, `green_tripdata_${m}.parquet`)));
    });

    it("Parquet is read by explicit byte ranges of the footer and the column chunks the job needs, not the whole object", async () => {
      const p = await proxy(s3.endpoint);
      try {
        const file = join(SHARED, "green_tripdata_2023-01.parquet"); // 20 columns, the job reads 5
        const r = await ridepred(["score", "s3://b/tlc/green_tripdata_2023-01.parquet", "-o", "s3://b/out/2023-01.parquet"], {
          ...s3.env,
          AWS_ENDPOINT_URL_S3: p.url,
        });
        expect(r.code, r.stderr).toBe(0);
        const gets = p.log.filter((e) => e.method === "GET" && e.url.includes("tlc/green_tripdata_2023-01"));
        expect(gets.length).toBeGreaterThan(1);
        for (const g of gets) expect(g.range).toMatch(/^bytes=\d+-\d+$/); // never a suffix range, never the whole object
        const fetched = gets.reduce((n, g) => n + g.bytes, 0);
        expect(fetched).toBeLessThanOrEqual((await neededBytes(file)) + FOOTER_READ);
        expect(fetched).toBeLessThan(statSync(file).size * 0.8);
        expect(sha(await s3.get("b", "out/2023-01.parquet"))).toBe(sha(await localRun(file, "green_tripdata_2023-01.parquet", "o.parquet")));
      } finally {
        await p.close();
      }
    });

    it("a template over s3:// keys: Hive partitions named by what it matched, one object each, opened from the listing (no HEAD)", async () => {
      const p = await proxy(s3.endpoint);
      let r: Run;
      try {
        r = await ridepred(
          [
            "score",
            "s3://b/tlc/{taxi_type}_tripdata_{year}-{month}.parquet",
            "-o",
            "s3://b/hive/taxi_type={taxi_type}/year={year}/month={month}/{run_id}.parquet",
            "--json",
          ],
          { ...s3.env, AWS_ENDPOINT_URL_S3: p.url },
        );
        // Each input's size and ETag came with the listing: its reads start at its footer, no HEAD first.
        expect(p.log.filter((e) => e.url.includes("/tlc/")).map((e) => e.method)).not.toContain("HEAD");
        expect(p.log.filter((e) => e.method === "GET" && e.url.includes("tlc/green_tripdata_2023-01")).length).toBeGreaterThan(1);
      } finally {
        await p.close();
      }
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).inputs).toHaveLength(3);
      const keys = await s3.keys("b", "hive/");
      expect(keys.map((k) => k.split("/").slice(1, 4).join("/"))).toEqual([
        "taxi_type=green/year=2021/month=01",
        "taxi_type=green/year=2021/month=02",
        "taxi_type=green/year=2023/month=01",
      ]);
      for (const k of keys) expect(k).toMatch(/\/[0-9a-f]{16}\.parquet$/);
      const local = await localRun(join(SHARED, "green_tripdata_2023-01.parquet"), "green_tripdata_2023-01.parquet", "o.parquet");
      expect(sha(await s3.get("b", keys[2]!))).toBe(sha(local));
    });

    it("an object opened from its listing and replaced before it is read is refused, naming it", async () => {
      // In-process: between the listing and the read there is no step of the CLI to replace it in.
      const saved = { ...process.env };
      Object.assign(process.env, s3.env);
      const key = "tlc-replaced/green_tripdata_2021-01.parquet";
      try {
        await s3.put("b", key, readFileSync(join(SHARED, "green_tripdata_2021-01.parquet")));
        const { s3List, s3Range } = await import("../src/io/s3-read.js");
        const [listed] = await s3List("b", "tlc-replaced/");
        expect(listed!.etag).toMatch(/^"[0-9a-f]+"$/);
        const fresh = await s3Range(listed!.url, { size: listed!.size, etag: listed!.etag });
        expect(Buffer.from(await readAt(fresh, 0, 4)).toString()).toBe("PAR1");
        await s3.put("b", key, readFileSync(join(SHARED, "green_tripdata_2021-02.parquet"))); // another month, another size
        const stale = await s3Range(listed!.url, { size: listed!.size, etag: listed!.etag });
        await expect(readAt(stale, 0, 4)).rejects.toThrow(
          `s3://b/${key}: replaced while it was read (now ${statSync(join(SHARED, "green_tripdata_2021-02.parquet")).size} bytes, ${listed!.size} when opened)`,
        );
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });

    it("multipart: many parts uploaded as the output grows, completed at the end: the local run's bytes", async () => {
      const staging = mkdtempSync(join(tmp, "staging-"));
      const r = await ridepred(["score", "s3://b/tlc/green_tripdata_2021-01.parquet", "-o", "s3://b/out/2021-01.csv"], {
        ...s3.env,
        RIDEPRED_S3_PART_SIZE: String(256 << 10),
        TMPDIR: staging,
      });
      expect(r.code, r.stderr).toBe(0);
      const got = await s3.get("b", "out/2021-01.csv");
      expect(got!.length).toBeGreaterThan(20 * (256 << 10)); // ~8 MB: over 20 parts
      expect(sha(got)).toBe(sha(await localRun(join(SHARED, "green_tripdata_2021-01.parquet"), "green_tripdata_2021-01.parquet", "o.csv")));
      expect(readdirSync(staging)).toEqual([]); // the staging file is gone
    });

    it("a run that fails after parts were uploaded leaves no object and no staging file", async () => {
      // The real month as CSV with one bad row at the very end: --on-error fail stops there.
      const dir = mkdtempSync(join(tmp, "fail-"));
      const csv = await localRun(join(SHARED, "green_tripdata_2021-01.parquet"), "g.parquet", "g.csv", [
        "--columns",
        "ride_id,pickup_datetime,dropoff_datetime,PULocationID,DOLocationID,trip_distance",
      ]);
      writeFileSync(join(dir, "bad.csv"), Buffer.concat([csv, Buffer.from("x,2021-01-31 10:00:00,2021-01-31 10:20:00,130,,1.0\n")]));
      await s3.put("b", "raw/bad.csv", readFileSync(join(dir, "bad.csv")));
      const staging = mkdtempSync(join(tmp, "staging-"));
      const r = await ridepred(["score", "s3://b/raw/bad.csv", "-o", "s3://b/out/bad.csv"], {
        ...s3.env,
        RIDEPRED_S3_PART_SIZE: String(64 << 10),
        TMPDIR: staging,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/s3:\/\/b\/raw\/bad\.csv: row 73909: DOLocationID: is required but missing/);
      expect(await s3.keys("b", "out/bad")).toEqual([]);
      expect(readdirSync(staging)).toEqual([]);
    });

    it("examples/k8s-indexed-job.yaml: its three pods write exactly what one unsharded run writes, and a re-run replaces it", async () => {
      // The example's container args and env, run as Kubernetes would run each index.
      const yaml = readFileSync(join(ROOT, "examples/k8s-indexed-job.yaml"), "utf8");
      const block = /\n {10}args:\n([\s\S]*?)\n {10}env:/.exec(yaml)![1]!;
      const args = [...block.matchAll(/^ {12}- (\S+)/gm)].map((m) => m[1]!);
      expect(args[0]).toBe("score");
      const count = /name: RIDEPRED_SHARD_COUNT\n\s+value: "(\d+)"/.exec(yaml)![1]!;
      expect(/completions: (\d+)/.exec(yaml)![1]).toBe(count);
      // Twelve months of 2021 in s3://tlc-data/raw, derived from the real ones (4,000 rows each).
      const { DuckDBInstance } = await import("@duckdb/node-api");
      const duck = await (await DuckDBInstance.create(":memory:")).connect();
      const dir = mkdtempSync(join(tmp, "k8s-"));
      for (let m = 1; m <= 12; m++) {
        const name = `green_tripdata_2021-${String(m).padStart(2, "0")}.parquet`;
        const src = join(SHARED, `green_tripdata_2021-0${(m % 2) + 1}.parquet`);
        await duck.run(`COPY (SELECT * FROM read_parquet('${src}') LIMIT 4000 OFFSET ${m * 4000}) TO '${join(dir, name)}' (FORMAT parquet)`);
        await s3.put("tlc-data", `raw/${name}`, readFileSync(join(dir, name)));
      }
      const snapshot = async () => {
        const out: Record<string, string> = {};
        for (const k of await s3.keys("tlc-data", "predictions/")) out[k] = sha(await s3.get("tlc-data", k));
        return out;
      };
      // Each pod's plan first (--dry-run lists the keys, writes nothing): together, the keys the pods then write.
      const planned: string[] = [];
      for (let i = 0; i < Number(count); i++) {
        const r = await ridepred([...args, "--dry-run"], { ...s3.env, JOB_COMPLETION_INDEX: String(i), RIDEPRED_SHARD_COUNT: count });
        expect(r.code, r.stderr).toBe(0);
        planned.push(...JSON.parse(r.stdout).jobs.map((j: { output: string }) => j.output.replace("s3://tlc-data/", "")));
      }
      expect(planned).toHaveLength(12);
      expect(await snapshot()).toEqual({});
      // A glob's plan takes each key's size from the listing and opens each key as the run would: a HEAD
      // and a Range request for its footer, never its data.
      const p = await proxy(s3.endpoint);
      try {
        const listed = await ridepred(["score", "s3://tlc-data/raw/*.parquet", "-o", "x/{input}.csv", "--dry-run", "--json"], {
          ...s3.env,
          AWS_ENDPOINT_URL_S3: p.url,
        });
        expect(listed.code, listed.stderr).toBe(0);
        const names = Array.from({ length: 12 }, (_, i) => `green_tripdata_2021-${String(i + 1).padStart(2, "0")}.parquet`);
        const sizes = names.map((n) => statSync(join(dir, n)).size);
        expect(JSON.parse(listed.stdout).jobs.map((j: { bytes: number }) => j.bytes)).toEqual(sizes);
        expect(JSON.parse(listed.stdout).jobs.map((j: { rows: number }) => j.rows)).toEqual(names.map(() => 4000));
        const keyed = p.log.filter((e) => !/^\/tlc-data\/?\?.*list-type=2/.test(e.url));
        expect(p.log.length).toBeGreaterThan(keyed.length); // the listing
        for (const e of keyed) {
          const name = /^\/tlc-data\/raw\/([^?]+)/.exec(e.url)?.[1];
          expect(names, e.url).toContain(name);
          if (e.method === "HEAD") continue;
          expect(e.method).toBe("GET");
          const start = Number(/^bytes=(\d+)-/.exec(e.range ?? "")?.[1]);
          expect(start, e.range).toBeGreaterThanOrEqual(sizes[names.indexOf(name!)]! - FOOTER_READ); // the footer's read
        }
        expect(keyed.filter((e) => e.method === "GET")).toHaveLength(12);
      } finally {
        await p.close();
      }
      // The plan found each object (its size, by HEAD); a missing key is named, exit 2.
      const one = await ridepred(
        ["score", "s3://tlc-data/raw/green_tripdata_2021-03.parquet", "s3://tlc-data/raw/nope.parquet", "-o", "x/{input}.csv", "--dry-run", "--json"],
        s3.env,
      );
      expect(one.code).toBe(2);
      expect(JSON.parse(one.stdout).jobs.map((j: { bytes?: number; error?: string }) => j.bytes ?? j.error)).toEqual([
        statSync(join(dir, "green_tripdata_2021-03.parquet")).size,
        "s3://tlc-data/raw/nope.parquet: cannot read: no such object",
      ]);
      for (let i = 0; i < Number(count); i++) {
        const r = await ridepred(args, { ...s3.env, JOB_COMPLETION_INDEX: String(i), RIDEPRED_SHARD_COUNT: count });
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout).shard).toEqual({ index: i, count: Number(count) });
      }
      const pods = await snapshot();
      expect(Object.keys(pods).sort()).toEqual(planned.sort());
      expect(Object.keys(pods).map((k) => k.split("/").slice(1, 4).join("/"))).toEqual(
        Array.from({ length: 12 }, (_, i) => `taxi_type=green/year=2021/month=${String(i + 1).padStart(2, "0")}`),
      );
      const whole = await ridepred(args, s3.env);
      expect(whole.code, whole.stderr).toBe(0);
      expect(JSON.parse(whole.stdout).inputs).toHaveLength(12);
      expect(await snapshot()).toEqual(pods); // the same 12 names, the same bytes: nothing counted twice
    });

    it("a run killed (SIGKILL) while its parts upload leaves no object under the key", async () => {
      const uploads = () => {
        const found: string[] = [];
        const walk = (d: string) => {
          for (const n of readdirSync(d)) {
            const p = join(d, n);
            if (statSync(p).isDirectory()) walk(p);
            else if (/uploads/.test(p) && /\/\d+$/.test(p)) found.push(p);
          }
        };
        walk(s3.dir);
        return found;
      };
      const before = uploads().length;
      let timer: NodeJS.Timeout | undefined;
      const r = await ridepred(
        ["score", "s3://b/tlc/green_tripdata_2021-01.parquet", "-o", "s3://b/out/killed.csv"],
        { ...s3.env, RIDEPRED_S3_PART_SIZE: String(64 << 10) },
        tmp,
        (kill) => {
          // Kill as soon as the first parts are stored, while the rest are still to come.
          timer = setInterval(() => {
            if (uploads().length >= before + 2) {
              clearInterval(timer);
              kill();
            }
          }, 5);
        },
      );
      clearInterval(timer);
      expect(r.signal).toBe("SIGKILL");
      expect(uploads().length).toBeGreaterThanOrEqual(before + 2); // it was killed mid-upload, not before
      expect(await s3.get("b", "out/killed.csv")).toBeUndefined();
      expect(await s3.keys("b", "out/killed")).toEqual([]);
    });
  });
});

describe("https:// inputs from a local server (certificate made by openssl for 127.0.0.1)", { timeout: SLOW }, () => {
  let base: { ranged: string; whole: string };
  let servers: Server[] = [];
  let ca: string;
  const served: { ranges: (string | undefined)[]; bytes: number } = { ranges: [], bytes: 0 };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmp, "tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    ca = join(dir, "cert.pem");
    const tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(ca) };
    const files: Record<string, string> = { "/green_tripdata_2021-02_sample.parquet": SAMPLE_PQ, "/green_tripdata_2021-02_sample.csv": SAMPLE_CSV };
    files["/truncated.parquet"] = join(dir, "truncated.parquet");
    writeFileSync(files["/truncated.parquet"], readFileSync(SAMPLE_PQ).subarray(0, 3000));
    files["/renamed.csv"] = join(dir, "renamed.csv");
    writeFileSync(files["/renamed.csv"], readFileSync(SAMPLE_CSV, "utf8").replace("PULocationID", "pu_location"));
    if (hasShared) files["/green_tripdata_2023-01.parquet"] = join(SHARED, "green_tripdata_2023-01.parquet");
    // One server honours Range (206 + Content-Range), the other ignores it (200, the whole file).
    const make = (ranges: boolean) =>
      createHttpsServer(tls, (req, res) => {
        const file = files[req.url!.split("?")[0]!];
        if (!file) {
          res.writeHead(404).end();
          return;
        }
        const size = statSync(file).size;
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
        served.ranges.push(req.headers.range);
        if (ranges && m) {
          const [start, end] = [Number(m[1]), Math.min(Number(m[2]), size - 1)];
          served.bytes += end - start + 1;
          res.writeHead(206, { "content-range": `bytes ${start}-${end}/${size}`, "content-length": end - start + 1 });
          createReadStream(file, { start, end }).pipe(res);
        } else {
          served.bytes += size;
          res.writeHead(200, { "content-length": size });
          createReadStream(file).pipe(res);
        }
      });
    servers = [make(true), make(false)];
    const ports = await Promise.all(servers.map((s) => new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as AddressInfo).port)))));
    base = { ranged: `https://127.0.0.1:${ports[0]}`, whole: `https://127.0.0.1:${ports[1]}` };
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  for (const mode of ["ranged", "whole"] as const) {
    it(`Parquet and CSV from a server ${mode === "ranged" ? "with" : "without"} Range support: the local run's bytes`, async () => {
      const env = { NODE_EXTRA_CA_CERTS: ca };
      served.ranges = [];
      const pq = await ridepred(["score", `${base[mode]}/green_tripdata_2021-02_sample.parquet`, "-o", `${mode}.parquet`], env);
      expect(pq.code, pq.stderr).toBe(0);
      expect(sha(readFileSync(join(tmp, `${mode}.parquet`)))).toBe(sha(await localRun(SAMPLE_PQ, "green_tripdata_2021-02_sample.parquet", "o.parquet")));
      if (mode === "ranged")
        expect(served.ranges.length).toBeGreaterThan(2); // the probe, the footer, the chunks
      else expect(served.ranges).toEqual(["bytes=0-0"]); // one request: the body it sent was kept and read locally
      const csv = await ridepred(["score", `${base[mode]}/green_tripdata_2021-02_sample.csv`, "-o", `${mode}.csv`], env);
      expect(csv.code, csv.stderr).toBe(0);
      expect(sha(readFileSync(join(tmp, `${mode}.csv`)))).toBe(sha(await localRun(SAMPLE_CSV, "green_tripdata_2021-02_sample.csv", "o.csv")));
    });
  }

  it.skipIf(!hasShared)("a wide real month over Range requests fetches less than the file", async () => {
    served.bytes = 0;
    const r = await ridepred(["score", `${base.ranged}/green_tripdata_2023-01.parquet`, "-o", "wide.parquet"], { NODE_EXTRA_CA_CERTS: ca });
    expect(r.code, r.stderr).toBe(0);
    const file = join(SHARED, "green_tripdata_2023-01.parquet");
    expect(served.bytes).toBeLessThanOrEqual((await neededBytes(file)) + FOOTER_READ + 1); // + the 1-byte probe
    expect(served.bytes).toBeLessThan(statSync(file).size * 0.8);
  });

  it("a pre-signed URL: the format comes from its path, and its query (the signature) is never printed", async () => {
    const env = { NODE_EXTRA_CA_CERTS: ca };
    const sig = "?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeefsecret";
    const ok = await ridepred(["score", `${base.ranged}/green_tripdata_2021-02_sample.parquet${sig}`, "-o", "signed.csv", "--json"], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).input).toBe(`${base.ranged}/green_tripdata_2021-02_sample.parquet?...`);
    const bad = await ridepred(["score", `${base.ranged}/truncated.parquet${sig}`, "-o", "x.csv"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${base.ranged}/truncated.parquet?...: not a readable Parquet file`);
    // Refusals before anything is read name the URLs without their signature too.
    const clash = await ridepred(
      [
        "score",
        `${base.ranged}/green_tripdata_2021-02_sample.parquet${sig}`,
        `${base.whole}/green_tripdata_2021-02_sample.parquet${sig}`,
        "-o",
        "clash/{input}.csv",
      ],
      env,
    );
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain(
      `${base.ranged}/green_tripdata_2021-02_sample.parquet?... and ${base.whole}/green_tripdata_2021-02_sample.parquet?... would both write`,
    );
    const unfilled = await ridepred(["score", `${base.ranged}/green_tripdata_{year}-02_sample.parquet${sig}`, "-o", "u.csv"], env);
    expect(unfilled.code).toBe(2);
    expect(unfilled.stderr).toContain("an HTTP server cannot be listed");
    const put = await ridepred(["score", SAMPLE_PQ, "-o", `${base.ranged}/out.csv${sig}`], env); // a pre-signed PUT URL is no output
    expect(put.code).toBe(2);
    expect(put.stderr).toContain(`${base.ranged}/out.csv?...: cannot write to an HTTP URL`);
    for (const r of [ok, bad, clash, unfilled, put]) expect(r.stdout + r.stderr).not.toMatch(/deadbeef|AKIAEXAMPLE/);
  });

  it("--dry-run: each URL's size from the one-byte probe, its footer by Range requests (a server without them: not opened, nothing downloaded), a 404 named, no signature printed", async () => {
    const env = { NODE_EXTRA_CA_CERTS: ca };
    const sig = "?X-Amz-Signature=deadbeefsecret";
    for (const mode of ["ranged", "whole"] as const) {
      served.ranges = [];
      const urls = [`${base[mode]}/green_tripdata_2021-02_sample.parquet${sig}`, `${base[mode]}/truncated.parquet`, `${base[mode]}/nope.parquet`];
      const r = await ridepred(["score", ...urls, "-o", `dry-${mode}/{input}.csv`, "--dry-run", "--json"], env);
      expect(r.code, r.stderr).toBe(2);
      const notFound = `${base[mode]}/nope.parquet: cannot read: HTTP 404 (no such file)`;
      const cut = `${base[mode]}/truncated.parquet: not a readable Parquet file (parquet file invalid (footer != PAR1)); truncated or not Parquet?`;
      const jobs = JSON.parse(r.stdout).jobs.map((j: { input: string; bytes?: number; rows?: number; not_checked?: string; error?: string }) => [
        j.input,
        j.error ?? [j.bytes, j.rows ?? j.not_checked],
      ]);
      if (mode === "ranged") {
        expect(r.stderr).toBe(`ridepred: ${cut}\nridepred: ${notFound}\ndry run: 3 inputs, 2 of them would fail, no rows read, nothing written\n`);
        expect(jobs).toEqual([
          [`${base[mode]}/green_tripdata_2021-02_sample.parquet?...`, [statSync(SAMPLE_PQ).size, 1000]],
          [`${base[mode]}/truncated.parquet`, cut], // opened as the run opens it: its footer is missing
          [`${base[mode]}/nope.parquet`, notFound],
        ]);
        // Probes and footers, each a Range request: nothing asked for whole.
        expect(served.ranges.every((range) => range !== undefined)).toBe(true);
      } else {
        expect(r.stderr).toBe(`ridepred: ${notFound}\ndry run: 3 inputs, 1 of them would fail, no rows read, nothing written\n`);
        const whole = "the server ignores Range requests: the run downloads it whole before reading its footer";
        expect(jobs).toEqual([
          [`${base[mode]}/green_tripdata_2021-02_sample.parquet?...`, [statSync(SAMPLE_PQ).size, whole]],
          [`${base[mode]}/truncated.parquet`, [3000, whole]], // found, not opened: the run would find it is no Parquet file
          [`${base[mode]}/nope.parquet`, notFound],
        ]);
        expect(served.ranges).toEqual(["bytes=0-0", "bytes=0-0"]); // the probes only (a 404 is not counted): nothing downloaded
      }
      expect(r.stdout + r.stderr).not.toContain("deadbeef");
      expect(existsSync(join(tmp, `dry-${mode}`))).toBe(false);
      // A CSV is opened either way (one streamed GET, let go after its header), its columns checked.
      const csv = await ridepred(["score", `${base[mode]}/green_tripdata_2021-02_sample.csv`, "-o", "x.csv", "--dry-run", "--json"], env);
      expect(csv.code, csv.stderr).toBe(0);
      expect(JSON.parse(csv.stdout).jobs[0]).toMatchObject({ bytes: statSync(SAMPLE_CSV).size });
      const renamed = await ridepred(["score", `${base[mode]}/renamed.csv`, "-o", "x.csv", "--dry-run"], env);
      expect(renamed.code).toBe(2);
      expect(renamed.stderr).toMatch(/renamed\.csv: no column for model input PULocationID/);
    }
  });

  it("a missing file is HTTP 404, exit 2; an untrusted certificate is refused", async () => {
    const r = await ridepred(["score", `${base.ranged}/nope.parquet`, "-o", "x.csv"], { NODE_EXTRA_CA_CERTS: ca });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.parquet: cannot read: HTTP 404 \(no such file\)/);
    const t = await ridepred(["score", `${base.ranged}/green_tripdata_2021-02_sample.csv`, "-o", "x.csv"], { NODE_EXTRA_CA_CERTS: undefined });
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/cannot read: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
  });
});
