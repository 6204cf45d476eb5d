let seq = 0;
const prefix = process.pid.toString(36) + "-";

/** A caller's X-Request-Id is kept when it is sane; otherwise pid-sequence, cheap and unique per process. */
export function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers["x-request-id"];
  return typeof h === "string" && h.length <= 128 && /^[\w.:-]+$/.test(h) ? h : prefix + (++seq).toString(36);
}
