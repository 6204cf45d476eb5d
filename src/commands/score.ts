import { Command } from "commander";
import { RidepredError } from "../errors.js";

export function scoreCommand(): Command {
  return new Command("score").description("(not yet implemented)").allowUnknownOption().action(() => {
    throw new RidepredError("score: not implemented yet", 1);
  });
}
