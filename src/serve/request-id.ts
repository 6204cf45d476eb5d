let seq = 0;
const prefix = process.pid.toString(36) + "-";
const SANE = /^[\w.:-]+$/;

/** A caller's X-Request-Id header value is kept when it is sane; otherwise pid-sequence, cheap and unique per process. */
export function requestIdFrom(h: string | string[] | undefined): string {
  return typeof h === "string" && h.length <= 128 && SANE.test(h) ? h : prefix + (++seq).toString(36);
}

export function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  return requestIdFrom(req.headers["x-request-id"]);
}
