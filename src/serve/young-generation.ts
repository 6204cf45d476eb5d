// The young generation (V8's new space) of a serving process is kept at its start-up size. Loading and
// compiling the model keeps much of what it allocates, which makes V8 grow the new space to its largest
// size for good; a request, though, keeps almost nothing, and allocating every request's short-lived
// objects across a large new space walks through far more memory than the caches hold (the per-request
// cost measured in the README's serve section). A small new space is scavenged more often, each time cheaply.
import { setFlagsFromString } from "node:v8";

/** Stops V8 from growing the new space from now on, unless the operator set its size (NODE_OPTIONS or node's flags). */
export function keepYoungGenerationSmall(): boolean {
  const given = `${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`;
  if (/semi[-_]space/.test(given)) return false;
  setFlagsFromString("--semi-space-growth-factor=1");
  return true;
}
