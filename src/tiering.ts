// How soon V8 optimizes a function, set for batch work before anything else loads. A scoring run calls
// its per-batch functions (take a batch, plan its output, encode a page) about once per 8,192 rows, and
// their inner loops once per row. At V8's default budget (67,584 bytes of bytecode run per profiler tick
// in Node 20) TurboFan also compiles most of the per-batch functions, late in the run, on the cores the
// run is using, for code that then saves next to nothing. At four times that budget the inner loops are
// still optimized within their first batches and most per-batch functions never are. A --interrupt-budget
// given to node itself is left as it is. Process-wide: worker threads started later get it too.
import { setFlagsFromString } from "node:v8";

export const INTERRUPT_BUDGET = 4 * 67584;

if (!process.execArgv.some((a) => a.startsWith("--interrupt-budget"))) setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
