// Trip timestamps are naive local time. We read the wall-clock fields as if they were UTC, so that
// differences are exact and printing gives back the same digits: no zone is ever applied.

const c0 = 48; // "0"

function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const d = s.charCodeAt(k) - c0;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/**
 * "YYYY-MM-DD HH:MM:SS[.fff...]" (or with "T", or a date alone) -> epoch ms of that wall-clock time.
 * A trailing "Z" or "+hh:mm" is honoured, so differences stay right across an explicit offset.
 * NaN when the string is not a timestamp.
 */
export function parseTimestamp(s: string): number {
  const len = s.length;
  if (len < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  const y = digits(s, 0, 4),
    mo = digits(s, 5, 2),
    d = digits(s, 8, 2);
  let h = 0,
    mi = 0,
    sec = 0,
    ms = 0,
    i = 10;
  if (len > 10) {
    const sep = s.charCodeAt(10);
    if (sep !== 32 && sep !== 84) return NaN; // " " or "T"
    h = digits(s, 11, 2);
    mi = digits(s, 14, 2);
    i = 16;
    if (s.charCodeAt(13) !== 58) return NaN;
    if (i < len && s.charCodeAt(i) === 58) {
      sec = digits(s, 17, 2);
      i = 19;
      if (i < len && s.charCodeAt(i) === 46) {
        let scale = 100;
        i++;
        while (i < len) {
          const dd = s.charCodeAt(i) - c0;
          if (dd < 0 || dd > 9) break;
          ms += dd * scale;
          scale /= 10;
          i++;
        }
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return NaN;
  let t = Date.UTC(y, mo - 1, d, h, mi, sec) + ms;
  if (i < len) {
    const z = s.charCodeAt(i);
    if (z === 90 && i === len - 1) return t; // Z
    if ((z === 43 || z === 45) && len - i >= 3) {
      const oh = digits(s, i + 1, 2);
      const om = len - i >= 6 ? digits(s, len - 2, 2) : 0;
      t -= (z === 43 ? 1 : -1) * (oh * 60 + om) * 60000;
      return t;
    }
    return NaN;
  }
  return t;
}

const pad2 = (n: number) => (n < 10 ? "0" + n : String(n));
const TWO = Array.from({ length: 61 }, (_, i) => pad2(i));
const dayCache = new Map<number, string>();

/** epoch ms -> "YYYY-MM-DD HH:MM:SS" (".fff" only when there are milliseconds), the TLC files' own style. */
export function formatTimestamp(ms: number): string {
  const day = Math.floor(ms / 86400000);
  let date = dayCache.get(day);
  if (date === undefined) {
    const dt = new Date(day * 86400000);
    date = `${String(dt.getUTCFullYear()).padStart(4, "0")}-${pad2(dt.getUTCMonth() + 1)}-${pad2(dt.getUTCDate())} `;
    if (dayCache.size > 4096) dayCache.clear();
    dayCache.set(day, date);
  }
  const rem = ms - day * 86400000; // 0 <= rem < 86400000
  const secs = Math.floor(rem / 1000);
  const frac = Math.floor(rem - secs * 1000); // whole ms: a micros remainder never rounds up to "1000"
  const h = (secs / 3600) | 0;
  const m = ((secs - h * 3600) / 60) | 0;
  const base = date + TWO[h] + ":" + TWO[m] + ":" + TWO[secs - h * 3600 - m * 60];
  return frac ? base + "." + String(frac).padStart(3, "0") : base;
}

/** A value from any reader (ms number, Date, string, null) -> epoch ms; NaN for missing; undefined when unparseable. */
export function toMillis(v: unknown): number | undefined {
  if (v === null || v === undefined || v === "") return NaN;
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const t = parseTimestamp(v);
    return t === t ? t : undefined;
  }
  if (v instanceof Date) return v.getTime();
  if (typeof v === "bigint") return Number(v);
  return undefined;
}
