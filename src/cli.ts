// The `ridepred` command line. Each subcommand lives in commands/ and loads its heavy modules lazily,
// so `ridepred --help` or `ridepred inspect` start fast.
import { Command, CommanderError } from "commander";
import { EXIT_FAILED, EXIT_USAGE, RidepredError } from "./errors.js";
import { VERSION } from "./version.js";

/**
 * The subcommands, in the order help lists them. A run that names one loads only its module (start-up
 * pays for every module loaded, and the others bring chalk and more); help, a typo and options before a
 * command get them all.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  import: async () => (await import("./commands/import.js")).importCommand(),
  inspect: async () => (await import("./commands/inspect.js")).inspectCommand(),
  verify: async () => (await import("./commands/verify.js")).verifyCommand(),
  score: async () => (await import("./commands/score.js")).scoreCommand(),
  serve: async () => (await import("./commands/serve.js")).serveCommand(),
  stream: async () => (await import("./commands/stream.js")).streamCommand(),
  export: async () => (await import("./commands/export.js")).exportCommand(),
};

/** The program for argv (node, script, args...): with only the subcommand argv names, when it names one. */
export async function program(argv: readonly string[] = []): Promise<Command> {
  const p = new Command("ridepred")
    .description("Deploy a scikit-learn ride-duration model: batch, web service, streaming.")
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const named = argv[2];
  const names = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const c of await Promise.all(names.map((n) => COMMANDS[n]!()))) p.addCommand(c.exitOverride());
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await program(argv)).parseAsync(argv);
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
