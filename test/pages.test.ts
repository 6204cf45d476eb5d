// Pages people look at, opened in a real browser (Debian's chromium driven by playwright-core): the
// service's /docs runs the /predict example and shows the model's answer. Screenshots land in
// docs/images/ (the README shows them).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../src/serve/server.js";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = join(__dirname, "..");
const IMAGES = join(ROOT, "docs", "images");
const MODEL = join(ROOT, "models", "ride-duration.json");

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
