import { Command } from "commander";
import { RidepredError } from "../errors.js";

export function streamCommand(): Command {
  return new Command("stream").description("(not yet implemented)").allowUnknownOption().action(() => {
    throw new RidepredError("stream: not implemented yet", 1);
  });
}
