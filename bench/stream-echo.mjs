// The stack's limit for bench/stream.mjs's JSONL pipe: node reading lines from stdin, JSON.parse and
// JSON.stringify each event, writing lines to stdout, with no prediction. Same I/O shape as ridepred stream.
let partial = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  const lines = (partial + chunk).split("\n");
  partial = lines.pop();
  let out = "";
  for (const l of lines) if (l) out += JSON.stringify(JSON.parse(l)) + "\n";
  if (!process.stdout.write(out)) {
    process.stdin.pause();
    process.stdout.once("drain", () => process.stdin.resume());
  }
});
process.stdin.on("end", () => {
  if (partial) process.stdout.write(JSON.stringify(JSON.parse(partial)) + "\n");
});
