// GET /docs: an interactive page over the service's own /openapi.json, drawn by Swagger UI from the
// swagger-ui-dist package (its files are served from here: the page needs no network). The served
// model's name, version, digest and pinned versions head the page (from the document's info), and each
// route carries an example request built from the model's golden examples, so "Try it out" runs as is.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { App } from "./routes/context.js";

/** The Swagger UI files the page loads, served under /docs/. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ridepred API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<style>body { margin: 0 } .swagger-ui .topbar { display: none }</style>
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// Kept out of the HTML so that a strict Content-Security-Policy (script-src 'self') still runs it.
const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  defaultModelsExpandDepth: 0,
});
`;

function assetDir(): string {
  // The package's own entry point says where its files are (absolute-path.js); resolved once, lazily.
  const require = createRequire(import.meta.url);
  return require("swagger-ui-dist").getAbsoluteFSPath();
}

export function docsRoutes(app: App): void {
  let dir: string | undefined;
  const cache = new Map<string, Buffer>();
  app.get("/docs", async (_req, reply) => reply.type("text/html; charset=utf-8").send(PAGE));
  app.get("/docs/init.js", async (_req, reply) => reply.type("application/javascript; charset=utf-8").send(INIT));
  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(`/docs/${name}`, async (_req, reply) => {
      dir ??= assetDir();
      let body = cache.get(name);
      if (!body) cache.set(name, (body = readFileSync(join(dir, name))));
      return reply.type(type).header("cache-control", "public, max-age=86400").send(body);
    });
  }
}
