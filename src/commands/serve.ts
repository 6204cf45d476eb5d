import { Command } from "commander";
import { RidepredError } from "../errors.js";

export function serveCommand(): Command {
  return new Command("serve").description("(not yet implemented)").allowUnknownOption().action(() => {
    throw new RidepredError("serve: not implemented yet", 1);
  });
}
