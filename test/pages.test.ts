// Pages people look at, opened in a real browser (Debian's chromium driven by playwright-core): the
// service's /docs runs the /predict example and shows the model's answer; score's --report opens offline
// with its charts and drift figures. Screenshots land in a temporary folder, so a test run leaves the
// checkout as it was; RIDEPRED_SCREENSHOTS=update writes them to docs/images/ (the README shows them).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriftSummary } from "../src/report/index.js";
import { startServer, type RunningServer } from "../src/serve/server.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(__dirname, "..");
const IMAGES = process.env.RIDEPRED_SCREENSHOTS === "update" ? join(ROOT, "docs", "images") : mkdtempSync(join(tmpdir(), "ridepred-screenshots-"));
const MODEL = join(ROOT, "models", "ride-duration.json");
afterAll(() => {
  if (process.env.RIDEPRED_SCREENSHOTS !== "update") rmSync(IMAGES, { recursive: true, force: true });
});

describe.skipIf(!existsSync(CHROMIUM))("pages in a real browser (skipped: /usr/bin/chromium is absent)", () => {
  let browser: Browser;
  let s: RunningServer;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    s = await startServer({ model: MODEL, port: 0, logger: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.app.close();
  });

  it("/docs: the model card heads the page, and the /predict example runs from it and shows the model's answer", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const offsite: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(s.url)) offsite.push(r.url());
    });
    await page.goto(`${s.url}/docs`);
    await page.getByText("ride-duration", { exact: false }).first().waitFor();
    const info = await page.locator(".information-container").textContent();
    expect(info).toContain("2021-01.1"); // version
    expect(info).toMatch(/digest: sha256:[0-9a-f]{64}/);
    expect(info).toContain("scikit-learn 1.2.1");
    expect(info).toContain("PULocationID");
    mkdirSync(IMAGES, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(IMAGES, "docs-page.png") });

    const op = page.locator("#operations-default-post_predict");
    await op.locator(".opblock-summary").click();
    await op.getByRole("button", { name: "Execute" }).click();
    const body = op.locator(".live-responses-table .response-col_description pre").first();
    await body.waitFor();
    const answer = JSON.parse((await body.textContent()) ?? "");
    // The example is the model's first golden example: the page shows what /predict answers for it.
    const example = s.state.current!.artifact.examples.cases[0]!;
    expect(answer.duration).toBe(s.state.current!.predictor.predict(example.input));
    expect(answer.model_version).toBe("2021-01.1");
    expect(await op.locator(".live-responses-table .response .response-col_status").first().textContent()).toContain("200");
    expect(offsite).toEqual([]); // everything the page loaded came from the service itself

    await op.locator(".live-responses-table").first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(IMAGES, "docs-predict.png") });
    await page.close();
  });

  it("every route's example request is accepted by the route (no 4xx from the page's own examples)", async () => {
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>>;
    };
    let tried = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const content = ops.post?.requestBody?.content;
      if (!content) continue;
      for (const [type, c] of Object.entries(content)) {
        expect(c.example, `${path} ${type} has an example`).toBeDefined();
        const url = s.url + path.replace("{version}", "2021-01.1");
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": type },
          body: typeof c.example === "string" ? c.example : JSON.stringify(c.example),
        });
        expect(res.status, `${path} ${type}: ${await res.clone().text()}`).toBe(200);
        tried++;
      }
    }
    expect(tried).toBeGreaterThanOrEqual(5);
  });

  it("--no-docs: /docs is not served", async () => {
    const off = await startServer({ model: MODEL, port: 0, logger: pino({ level: "silent" }), docs: false });
    try {
      expect((await fetch(`${off.url}/docs`)).status).toBe(404);
      expect((await fetch(`${off.url}/openapi.json`)).status).toBe(200);
    } finally {
      await off.app.close();
    }
  });
});

// The batch report of a real month against the model's training month (2021-01, its --json summary as
// the reference), opened from disk with every request outside the file refused: 2021-02 with threshold
// 0.05, so that the predictions' shift (PSI 0.0725) is flagged; 2023-01 (the raw TLC file, 1..60 minute
// filter) drifts at the default 0.2, and its report is the README's screenshot.
const SHARED = join(ROOT, "../shared/data");
const MONTHS = ["2021-01", "2021-02", "2023-01"].map((m) => join(SHARED, `green_tripdata_${m}.parquet`));

describe.skipIf(!existsSync(CHROMIUM) || !MONTHS.every((m) => existsSync(m)))(
  "score --report in a real browser (skipped: /usr/bin/chromium or ../shared/data is absent)",
  () => {
    let browser: Browser;
    let dir: string;
    const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), ...args], { cwd: dir, encoding: "utf8", maxBuffer: 1 << 26 });
    /** Score a month against 2021-01's summary with a report; its --json drift. */
    const month = (m: string, extra: string[]): DriftSummary => {
      const r = cli(["score", `green_tripdata_${m}.parquet`, "-o", `${m}.parquet`, "--reference", "2021-01.json", "--report", `${m}.html`, "--json", ...extra]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout).drift;
    };
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "ridepred-report-page-"));
      // linked in, so that the report names them as a user in that directory would
      for (const m of MONTHS) symlinkSync(m, join(dir, basename(m)));
      const jan = cli(["score", basename(MONTHS[0]!), "-o", "2021-01.parquet", "--stats", "--json"]);
      expect(jan.status, jan.stderr).toBe(0);
      writeFileSync(join(dir, "2021-01.json"), jan.stdout);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
      });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Open a report offline and check what it shows against --json's drift; the page stays open. */
    async function openReport(file: string, drift: DriftSummary) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
      const url = pathToFileURL(join(dir, file)).href;
      const offsite: string[] = [];
      await page.route("**/*", (route) => {
        if (route.request().url() === url) return route.continue();
        offsite.push(route.request().url());
        return route.abort();
      });
      await page.goto(url);
      for (const id of ["drift", "rows", "predictions", "actual", "inputs"]) await expect(page.locator(`section#${id}`).isVisible()).resolves.toBe(true);
      // a chart per model input, drawn: an SVG of non-zero size with bars in it
      for (const name of Object.keys(drift.inputs)) {
        const chart = page.locator(`article[data-input="${name}"] svg.chart`).first();
        const box = await chart.boundingBox();
        expect(box?.width, name).toBeGreaterThan(200);
        expect(box?.height, name).toBeGreaterThan(100);
        expect(await chart.locator("rect.cur").count(), name).toBeGreaterThan(5);
      }
      const predictions = await page.locator("section#predictions svg.chart").first().boundingBox();
      expect(predictions?.width).toBeGreaterThan(400);
      // the drift table: one row per compared column, PSI as in --json, flagged rows marked
      const rows = page.locator("table.drift tbody tr");
      expect(await rows.count()).toBe(1 + Object.keys(drift.inputs).length);
      const shown: Record<string, string> = {};
      for (const row of await rows.all()) shown[(await row.getAttribute("data-column"))!] = (await row.locator(".psi-value").textContent())!;
      const psis: Record<string, number> = { prediction: drift.prediction.drift!.psi };
      for (const [name, c] of Object.entries(drift.inputs)) psis[name] = c.drift!.psi;
      expect(shown).toEqual(Object.fromEntries(Object.entries(psis).map(([k, v]) => [k, v.toFixed(4)])));
      const flagged = await page.locator("table.drift tr.flagged").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-column")));
      expect(flagged).toEqual(drift.flagged);
      if (flagged.length) expect(await page.locator("table.drift tr.flagged .badge").first().isVisible()).toBe(true);
      expect(offsite).toEqual([]);
      return page;
    }

    it("2021-02: opens offline with every section, a drawn chart per model input, and the drift figures of --json", async () => {
      const drift = month("2021-02", ["--drift-threshold", "0.05"]);
      expect(drift.flagged).toEqual(["prediction"]);
      await (await openReport("2021-02.html", drift)).close();
    });

    it("2023-01: drift at the default threshold, shown flagged; the README's screenshots", async () => {
      const drift = month("2023-01", ["--filter-duration", "1..60"]);
      expect(drift.threshold).toBe(0.2);
      expect(drift.flagged).toEqual(["prediction", "PULocationID", "trip_distance"]);
      const page = await openReport("2023-01.html", drift);
      mkdirSync(IMAGES, { recursive: true });
      await page.screenshot({ path: join(IMAGES, "report.png"), clip: { x: 0, y: 0, width: 1280, height: 1560 } });
      await page.locator("section#inputs").screenshot({ path: join(IMAGES, "report-inputs.png") });
      await page.close();
    });
  },
);
