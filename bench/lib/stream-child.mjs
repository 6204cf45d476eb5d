// What the stream benches share: a free loopback port for the broker they start, and `ridepred stream`
// as a child process with its --json summary on stdout, stopped by SIGTERM.
import { spawn } from "node:child_process";

export { freePort } from "./harness.mjs";

/** `ridepred stream --from FROM --to TO [...more] --batch N --json`, started now. */
export function startStream({ bin, nodeArgs = [], from, to, more = [], batch, env = process.env }) {
  const child = spawn(process.execPath, [...nodeArgs, bin, "stream", "--from", from, "--to", to, ...more, "--batch", String(batch), "--json"], {
    stdio: ["ignore", "pipe", "ignore"],
    env,
  });
  let summary = "";
  child.stdout.on("data", (d) => (summary += d));
  const exited = new Promise((r) => child.on("exit", r));
  return {
    pid: child.pid,
    /** SIGTERM, wait for the exit, and its summary; throws unless it predicted all `n` events. */
    async stop(n) {
      child.kill("SIGTERM");
      await exited;
      const s = JSON.parse(summary);
      if (s.predictions < n) throw new Error(`ridepred predicted ${s.predictions} of ${n}`);
      return s;
    },
  };
}
