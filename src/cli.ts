// The `ridepred` command line. Each subcommand lives in commands/ and loads its heavy modules lazily,
// so `ridepred --help` or `ridepred inspect` start fast.
import { Command, CommanderError } from "commander";
import { EXIT_FAILED, EXIT_USAGE, RidepredError } from "./errors.js";
import { VERSION } from "./version.js";
import { importCommand } from "./commands/import.js";
import { inspectCommand } from "./commands/inspect.js";
import { verifyCommand } from "./commands/verify.js";
import { scoreCommand } from "./commands/score.js";
import { serveCommand } from "./commands/serve.js";
import { streamCommand } from "./commands/stream.js";
import { exportCommand } from "./commands/export.js";

export function program(): Command {
  const p = new Command("ridepred")
    .description("Deploy a scikit-learn ride-duration model: batch, web service, streaming.")
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const c of [importCommand(), inspectCommand(), verifyCommand(), scoreCommand(), serveCommand(), streamCommand(), exportCommand()]) {
    p.addCommand(c.exitOverride());
  }
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return EXIT_USAGE; // commander already printed what was wrong
    }
    if (e instanceof RidepredError) {
      process.stderr.write(`ridepred: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`ridepred: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT_FAILED;
  }
}
