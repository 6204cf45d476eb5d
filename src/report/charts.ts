// Plain SVG charts, drawn as text: no script, no library, nothing fetched. Each takes shares (0..1) of
// this run and, when there is one, of the reference, so the two read on one scale.
import { lowerOf, middleOf, type Sketch, upperOf } from "./sketch.js";

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const num = (x: number | null | undefined, digits = 2): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a >= 1e5) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 1 || a === 0) return x.toFixed(digits);
  return x.toPrecision(digits);
};

export interface Series {
  name: string;
  /** "cur": filled bars; "ref": an outline over them. */
  role: "cur" | "ref";
  shares: number[];
}

const W = 560;
const H = 210;
const PAD = { l: 46, r: 26, t: 12, b: 34 };

/** Equal-width display bins over the middle 99% of both runs' values, each bucket's rows in the bin of its middle. */
export function histogram(runs: readonly Sketch[], bins = 40): { edges: number[]; shares: number[][] } {
  const all = runs.filter((s) => s.count > 0);
  if (!all.length) return { edges: [], shares: runs.map(() => []) };
  const lo = Math.min(...all.map((s) => clampQ(s, 0.005)));
  let hi = Math.max(...all.map((s) => clampQ(s, 0.995)));
  if (!(hi > lo)) hi = lo + 1;
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  const shares = runs.map((s) => {
    const out = new Array<number>(bins).fill(0);
    for (const [key, c] of s.buckets()) {
      const mid = middleOf(key);
      const i = Math.min(bins - 1, Math.max(0, Math.floor((mid - lo) / width)));
      out[i]! += c / (s.count || 1);
    }
    return out;
  });
  return { edges, shares };
}

function clampQ(s: Sketch, q: number): number {
  let seen = 0;
  for (const [key, c] of s.buckets()) {
    seen += c;
    if (seen >= q * s.count) return Math.min(s.max, Math.max(s.min, q < 0.5 ? lowerOf(key) : upperOf(key)));
  }
  return s.max;
}

/** A histogram: bars of this run, the reference's outline as a step line over them. */
export function histogramSvg(title: string, edges: number[], series: Series[], unit = ""): string {
  if (edges.length < 2) return `<p class="empty">no values</p>`;
  const n = edges.length - 1;
  const top = Math.max(1e-9, ...series.flatMap((s) => s.shares));
  const x = (i: number) => PAD.l + ((W - PAD.l - PAD.r) * i) / n;
  const y = (v: number) => H - PAD.b - ((H - PAD.t - PAD.b) * v) / top;
  const parts: string[] = [axes(top, x(0), x(n))];
  for (const s of series) {
    if (s.role === "cur") {
      s.shares.forEach((v, i) => {
        if (v > 0) parts.push(`<rect class="cur" x="${f(x(i) + 0.5)}" y="${f(y(v))}" width="${f(x(i + 1) - x(i) - 1)}" height="${f(y(0) - y(v))}"/>`);
      });
    } else {
      let d = `M${f(x(0))},${f(y(0))}`;
      for (const [i, v] of s.shares.entries()) d += `L${f(x(i))},${f(y(v))}L${f(x(i + 1))},${f(y(v))}`;
      d += `L${f(x(n))},${f(y(0))}`;
      parts.push(`<path class="ref" d="${d}"/>`);
    }
  }
  const lo = edges[0]!;
  const hi = edges[n]!;
  for (const t of niceTicks(lo, hi)) {
    const xt = PAD.l + ((W - PAD.l - PAD.r) * (t - lo)) / (hi - lo);
    parts.push(`<line class="axis" x1="${f(xt)}" x2="${f(xt)}" y1="${H - PAD.b}" y2="${H - PAD.b + 4}"/>`);
    parts.push(`<text class="tick" x="${f(xt)}" y="${H - PAD.b + 17}" text-anchor="middle">${esc(num(t, t % 1 ? 1 : 0))}${esc(unit)}</text>`);
  }
  return svg(title, parts.join(""));
}

/** Horizontal bars, one row per category: this run's share as a bar, the reference's as a tick across it. */
export function categorySvg(title: string, labels: string[], series: Series[]): string {
  if (!labels.length) return `<p class="empty">no values</p>`;
  const row = 17;
  const h = PAD.t + labels.length * row + 8;
  const left = 86;
  const top = Math.max(1e-9, ...series.flatMap((s) => s.shares));
  const x = (v: number) => left + ((W - left - 56) * v) / top;
  const parts: string[] = [];
  labels.forEach((label, i) => {
    const yy = PAD.t + i * row;
    parts.push(`<text class="label" x="${left - 6}" y="${yy + 12}" text-anchor="end">${esc(label.length > 12 ? label.slice(0, 11) + "…" : label)}</text>`);
    for (const s of series) {
      const v = s.shares[i] ?? 0;
      if (s.role === "cur") {
        parts.push(`<rect class="cur" x="${left}" y="${yy + 2}" width="${f(Math.max(1, x(v) - left))}" height="${row - 5}"/>`);
        parts.push(`<text class="value" x="${f(x(v) + 4)}" y="${yy + 12}">${(v * 100).toFixed(1)}%</text>`);
      } else parts.push(`<line class="ref" x1="${f(x(v))}" x2="${f(x(v))}" y1="${yy}" y2="${yy + row - 1}"/>`);
    }
  });
  parts.push(`<line class="axis" x1="${left}" x2="${left}" y1="${PAD.t - 2}" y2="${h - 6}"/>`);
  return svg(title, parts.join(""), h);
}

/** Paired columns per PSI bin: reference (grey) and this run (blue), shares of each run; labels slanted. */
export function binsSvg(title: string, labels: string[], ref: number[], cur: number[]): string {
  const n = labels.length;
  if (!n) return "";
  const h = H + 30;
  const base = h - PAD.b - 30;
  const top = Math.max(1e-9, ...ref, ...cur);
  const slot = (W - PAD.l - PAD.r) / n;
  const y = (v: number) => base - ((base - PAD.t) * v) / top;
  const parts: string[] = [
    `<line class="axis" x1="${PAD.l}" x2="${W - PAD.r}" y1="${base}" y2="${base}"/>`,
    `<text class="tick" x="${PAD.l - 6}" y="${PAD.t + 4}" text-anchor="end">${(top * 100).toFixed(0)}%</text>`,
    `<text class="tick" x="${PAD.l - 6}" y="${base + 4}" text-anchor="end">0</text>`,
  ];
  labels.forEach((label, i) => {
    const x0 = PAD.l + i * slot;
    const bw = Math.max(1, slot / 2 - 1.5);
    parts.push(`<rect class="refbar" x="${f(x0 + 1)}" y="${f(y(ref[i]!))}" width="${f(bw)}" height="${f(base - y(ref[i]!))}"/>`);
    parts.push(`<rect class="cur" x="${f(x0 + 1 + bw)}" y="${f(y(cur[i]!))}" width="${f(bw)}" height="${f(base - y(cur[i]!))}"/>`);
    const short = label.length > 10 ? label.slice(0, 9) + "…" : label;
    const lx = f(x0 + slot / 2 + 3);
    const ly = base + 12;
    parts.push(`<text class="tick" x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx} ${ly})">${esc(short)}</text>`);
  });
  return svg(title, parts.join(""), h);
}

/** The rows of a run: scored, filtered and rejected as one bar. */
export function accountingSvg(parts: { label: string; rows: number; cls: string }[]): string {
  const total = parts.reduce((a, p) => a + p.rows, 0) || 1;
  let x = 0;
  const rects = parts
    .filter((p) => p.rows > 0)
    .map((p) => {
      const w = (p.rows / total) * W;
      const r = `<rect class="${p.cls}" x="${f(x)}" y="0" width="${f(Math.max(w, 2))}" height="22"><title>${esc(p.label)}: ${p.rows}</title></rect>`;
      x += w;
      return r;
    });
  return `<svg class="bar" viewBox="0 0 ${W} 22" preserveAspectRatio="none" width="100%" height="22" role="img" aria-label="rows: ${parts.map((p) => `${p.label} ${p.rows}`).join(", ")}">${rects.join("")}</svg>`;
}

/** Round values (1, 2 or 5 times a power of ten apart) between lo and hi: about five of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((st) => st >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number((Math.round(t / step) * step).toPrecision(12)));
  return out;
}

function axes(top: number, x0: number, x1: number): string {
  const yBase = H - PAD.b;
  const yTop = PAD.t;
  return (
    `<line class="axis" x1="${f(x0)}" x2="${f(x1)}" y1="${yBase}" y2="${yBase}"/>` +
    `<line class="grid" x1="${f(x0)}" x2="${f(x1)}" y1="${yTop}" y2="${yTop}"/>` +
    `<text class="tick" x="${PAD.l - 6}" y="${yTop + 4}" text-anchor="end">${(top * 100).toFixed(top < 0.1 ? 1 : 0)}%</text>` +
    `<text class="tick" x="${PAD.l - 6}" y="${yBase + 4}" text-anchor="end">0</text>`
  );
}

function svg(title: string, body: string, h = H): string {
  return `<svg class="chart" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${body}</svg>`;
}

const f = (v: number) => (Math.round(v * 10) / 10).toString();
