import { destination, pino, stdTimeFunctions, type Logger } from "pino";

/** JSON lines to stderr (stdout stays free for data), one per event; request lines at debug level. */
export function createLogger(level = "info"): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime }, destination({ fd: 2, sync: true }));
}
