// The bare node:http JSON echo's request handler: parse the JSON body, write it back as JSON. One copy,
// so that bench/serve-echo.mjs and bench/serve-echo-loaded.mjs time the very same handler.
export function jsonEcho(req, res) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}
