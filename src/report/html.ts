// The run's report: one self-contained HTML file (inline CSS, inline SVG, no script, nothing fetched),
// drawn from the run's summary alone, so its size depends on the columns, never on the rows.
import type { ScoreSummary } from "../batch/score.js";
import { accountingSvg, binsSvg, categorySvg, esc, histogram, histogramSvg, num, type Series } from "./charts.js";
import { PREDICTION, type Reference } from "./drift.js";
import { Sketch } from "./sketch.js";
import type { CategoryStats, ColumnStats, DriftSummary, NumberStats } from "./stats.js";

export interface ReportInput {
  summary: ScoreSummary;
  drift: DriftSummary;
  reference?: Reference;
  /** When the report was made (ISO). */
  generated: string;
}

const n = (x: number) => x.toLocaleString("en-US");
const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(a && a < b / 1000 ? 3 : 1)}%` : "–");
export const psiText = (x: number) => x.toFixed(4);

export function renderReport(r: ReportInput): string {
  const { summary: s, drift: d } = r;
  const title = `ridepred report: ${s.input}`;
  const body = [
    header(r),
    verdict(d),
    driftSection(d),
    rowsSection(s, d),
    predictionSection(d, r.reference),
    d.actual_duration && d.error ? actualSection(d, r.reference) : "",
    inputsSection(d, r.reference),
  ].join("\n");
  // The statistics ride along, machine-readable (the same object as --json's drift).
  const data = JSON.stringify(d).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
${body}
<footer>Made by ridepred on ${esc(r.generated)}. Statistics, not rows: quantiles within 1% of their value; PSI over 10 quantile bins of the reference (its 20 most frequent values and "other" for categories), an empty bin counting as 0.01%.</footer>
</main><script type="application/json" id="drift">${data}</script></body></html>
`;
}

function header(r: ReportInput): string {
  const s = r.summary;
  const ref = r.drift.reference;
  return `<header><h1>Scoring report</h1>
<dl class="meta">
<dt>input</dt><dd><code>${esc(s.input)}</code></dd>
<dt>output</dt><dd><code>${esc(s.output)}</code></dd>
<dt>model</dt><dd>${esc(s.model.name)} <b>${esc(s.model.version)}</b></dd>
<dt>reference</dt><dd>${ref ? `<code>${esc(ref.source)}</code> · ${n(ref.rows)} rows scored${ref.model ? ` · model ${esc(ref.model.name)} ${esc(ref.model.version)}` : ""}` : "none (add <code>--reference FILE</code> to compare)"}</dd>
<dt>run</dt><dd>${n(s.rows_read)} rows in ${s.seconds.toFixed(2)} s</dd>
</dl></header>`;
}

function verdict(d: DriftSummary): string {
  if (!d.reference) return `<p class="verdict none">No reference: distributions only, no drift figures.</p>`;
  const compared = 1 + Object.values(d.inputs).filter((c) => c.drift).length;
  if (!d.flagged.length) return `<p class="verdict ok">No drift: every PSI of the ${compared} columns compared is at most ${d.threshold}.</p>`;
  return `<p class="verdict drift" id="verdict"><b>Drift:</b> ${d.flagged.length} of ${compared} columns above PSI ${d.threshold}: ${d.flagged.map((c) => `<code>${esc(label(d, c))}</code>`).join(", ")}.</p>`;
}

const label = (d: DriftSummary, name: string) => (name === PREDICTION ? d.prediction.column : name);

function rowsSection(s: ScoreSummary, d: DriftSummary): string {
  const reasons = d.reject_reasons.length
    ? `<h3>Top reject reasons</h3><table class="reasons"><thead><tr><th>field</th><th>reason</th><th class="num">rows</th></tr></thead><tbody>${d.reject_reasons
        .map((x) => `<tr><td><code>${esc(x.field)}</code></td><td>${esc(x.reason)}</td><td class="num">${n(x.rows)}</td></tr>`)
        .join("")}</tbody></table>`
    : "";
  const unseen = Object.entries(d.combinations)
    .map(
      ([name, c]) =>
        `<p>${n(c.unseen)} ${c.unseen === 1 ? "row" : "rows"} (${pct(c.unseen, c.count)}) have a <code>${esc(name)}</code> the model never saw in training.</p>`,
    )
    .join("");
  return `<section id="rows"><h2>Rows</h2>
${accountingSvg([
  { label: "scored", rows: s.scored, cls: "scored" },
  { label: "filtered", rows: s.filtered, cls: "filtered" },
  { label: "rejected", rows: s.rejected, cls: "rejected" },
])}
<table class="accounting"><tbody>
<tr><th>read</th><td class="num">${n(s.rows_read)}</td><td></td></tr>
<tr><th><i class="key scored"></i>scored</th><td class="num">${n(s.scored)}</td><td class="num">${pct(s.scored, s.rows_read)}</td></tr>
<tr><th><i class="key filtered"></i>filtered</th><td class="num">${n(s.filtered)}</td><td class="num">${pct(s.filtered, s.rows_read)}</td></tr>
<tr><th><i class="key rejected"></i>rejected</th><td class="num">${n(s.rejected)}</td><td class="num">${pct(s.rejected, s.rows_read)}</td></tr>
</tbody></table>${unseen}${reasons}</section>`;
}

const LEGEND = (ref: boolean) => `<p class="legend"><i class="key scored"></i>this run${ref ? ` <i class="key refline"></i>reference` : ""}</p>`;

function numberFigure(title: string, cur: NumberStats, ref: NumberStats | undefined, unit = ""): string {
  const runs = [Sketch.fromJSON(cur.sketch), ...(ref ? [Sketch.fromJSON(ref.sketch)] : [])];
  const h = histogram(runs);
  const series: Series[] = [{ name: "this run", role: "cur", shares: h.shares[0]! }];
  if (ref) series.push({ name: "reference", role: "ref", shares: h.shares[1]! });
  const q = cur.quantiles;
  return `<figure>${histogramSvg(title, h.edges, series, unit)}
<figcaption>mean ${num(cur.mean)} · p5 ${num(q.p5)} · median ${num(q.p50)} · p95 ${num(q.p95)} · min ${num(cur.min)} · max ${num(cur.max)}${cur.missing ? ` · missing ${n(cur.missing)}` : ""}${ref ? ` <span class="was">(reference: mean ${num(ref.mean)}, median ${num(ref.quantiles.p50)})</span>` : ""}</figcaption></figure>`;
}

function categoryFigure(title: string, cur: CategoryStats, ref: CategoryStats | undefined): string {
  const top = cur.top.slice(0, 20);
  const labels = top.map(([v]) => v);
  const refShare = new Map((ref?.top ?? []).map(([v, c]) => [v, c / (ref!.count || 1)]));
  const series: Series[] = [{ name: "this run", role: "cur", shares: top.map(([, c]) => c / (cur.count || 1)) }];
  if (ref) series.push({ name: "reference", role: "ref", shares: labels.map((v) => refShare.get(v) ?? 0) });
  const rest = cur.count - top.reduce((a, [, c]) => a + c, 0);
  return `<figure>${categorySvg(title, labels, series)}
<figcaption>${n(cur.distinct)} distinct values${cur.approximate ? " (approximate counts)" : ""}; the ${labels.length} most frequent shown${rest ? `, ${pct(rest, cur.count)} of rows in the others` : ""}${cur.missing ? ` · missing ${n(cur.missing)}` : ""}</figcaption></figure>`;
}

function predictionSection(d: DriftSummary, ref: Reference | undefined): string {
  const p = d.prediction;
  const old = ref?.drift.prediction;
  const fig =
    p.kind === "number"
      ? numberFigure(`distribution of ${p.column}`, p, old?.kind === "number" ? old : undefined)
      : categoryFigure(`predicted classes`, p, old?.kind === "category" ? old : undefined);
  return `<section id="predictions"><h2>Predictions <code>${esc(p.column)}</code></h2>${LEGEND(!!old)}${fig}${p.drift ? psiLine(p.drift.psi, p.drift.flagged, d.threshold) + binsDetails(p.column, p.drift) : ""}</section>`;
}

function actualSection(d: DriftSummary, ref: Reference | undefined): string {
  const a = d.actual_duration!;
  const e = d.error!;
  const rmse = Math.sqrt(e.sketch.squares / (e.count || 1));
  return `<section id="actual"><h2>Actual durations and error</h2>${LEGEND(!!ref?.drift.actual_duration)}
<div class="pair"><div><h3>actual duration (minutes)</h3>${numberFigure("distribution of actual durations", a, ref?.drift.actual_duration)}</div>
<div><h3>error: actual − predicted</h3>${numberFigure("distribution of the error", e, ref?.drift.error)}</div></div>
<p>Mean error ${num(e.mean)} min; RMSE ${num(rmse, 3)} min over ${n(e.count)} rides.</p></section>`;
}

function psiLine(v: number, flagged: boolean, threshold: number): string {
  return `<p class="psi ${flagged ? "flag" : "ok"}">PSI against the reference: <b>${psiText(v)}</b> ${flagged ? `— above ${threshold}: drift` : `(≤ ${threshold})`}</p>`;
}

function driftSection(d: DriftSummary): string {
  if (!d.reference) return "";
  const rows: [string, ColumnStats][] = [[PREDICTION, d.prediction], ...Object.entries(d.inputs)];
  const top = Math.max(d.threshold * 2, ...rows.map(([, c]) => c.drift?.psi ?? 0));
  const body = rows
    .filter(([, c]) => c.drift)
    .map(([name, c]) => {
      const v = c.drift!.psi;
      const w = Math.min(100, (100 * v) / top);
      const t = (100 * d.threshold) / top;
      return `<tr class="${c.drift!.flagged ? "flagged" : ""}" data-column="${esc(name)}"><td><code>${esc(label(d, name))}</code></td><td>${c.kind}</td><td class="num psi-value">${psiText(v)}</td>
<td class="meter"><span class="fill" style="width:${w.toFixed(1)}%"></span><span class="mark" style="left:${t.toFixed(1)}%"></span></td><td>${c.drift!.flagged ? `<span class="badge">drift</span>` : "ok"}</td></tr>`;
    })
    .join("\n");
  return `<section id="drift"><h2>Drift against the reference</h2>
<p>Population stability index per column, flagged above <b>${d.threshold}</b> (the line in each bar). Rule of thumb: below 0.1 stable, 0.1–0.2 worth a look, above 0.2 a shift.</p>
<table class="drift"><thead><tr><th>column</th><th>kind</th><th class="num">PSI</th><th class="meter-h"></th><th></th></tr></thead><tbody>
${body}
</tbody></table></section>`;
}

function inputsSection(d: DriftSummary, ref: Reference | undefined): string {
  const cards = Object.entries(d.inputs).map(([name, c]) => {
    const old = ref?.drift.inputs[name];
    const fig =
      c.kind === "number"
        ? numberFigure(`distribution of ${name}`, c, old?.kind === "number" ? old : undefined)
        : categoryFigure(`most frequent values of ${name}`, c, old?.kind === "category" ? old : undefined);
    const unseen =
      c.kind === "category" && c.unseen !== null
        ? `<p class="unseen">${n(c.unseen)} ${c.unseen === 1 ? "row" : "rows"} (${pct(c.unseen, c.count)}) with a value the model never saw in training${old?.kind === "category" && old.unseen !== null ? ` <span class="was">(reference: ${pct(old.unseen, old.count)})</span>` : ""}.</p>`
        : "";
    const bins = c.drift ? binsDetails(name, c.drift) : "";
    return `<article class="input${c.drift?.flagged ? " flagged" : ""}" data-input="${esc(name)}"><h3><code>${esc(name)}</code> <small>${c.kind}</small></h3>${fig}${unseen}${c.drift ? psiLine(c.drift.psi, c.drift.flagged, d.threshold) : ""}${bins}</article>`;
  });
  return `<section id="inputs"><h2>Model inputs</h2>${LEGEND(!!ref)}<div class="grid">${cards.join("\n")}</div></section>`;
}

/** The PSI's bins, reference (grey) beside this run (blue); open when the column is flagged. */
function binsDetails(name: string, d: NonNullable<ColumnStats["drift"]>): string {
  const chart = binsSvg(
    `${name}: shares of the reference's bins`,
    d.bins.map((b) => (b.upper !== undefined && b.upper !== null ? `≤ ${num(b.upper)}` : b.label)),
    shares(d.bins.map((b) => b.reference)),
    shares(d.bins.map((b) => b.current)),
  );
  return `<details${d.flagged ? " open" : ""}><summary>PSI bins: reference <i class="key refbox"></i> this run <i class="key scored"></i></summary>${chart}</details>`;
}

const shares = (xs: number[]) => {
  const t = xs.reduce((a, b) => a + b, 0) || 1;
  return xs.map((x) => x / t);
};

const CSS = `
:root{--cur:#2563eb;--ref:#6b7280;--flag:#dc2626;--ok:#15803d;--ink:#111827;--mute:#6b7280;--line:#e5e7eb;--bg:#f8fafc}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:26px;margin:0 0 8px}h2{font-size:19px;margin:0 0 10px}h3{font-size:15px;margin:4px 0 8px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:16px 0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;color:var(--mute)}.meta dd{margin:0;color:var(--ink)}
.verdict{font-size:16px;padding:12px 16px;border-radius:10px;margin:16px 0}
.verdict.ok{background:#dcfce7;color:#14532d}.verdict.drift{background:#fee2e2;color:#7f1d1d}.verdict.none{background:#f1f5f9;color:var(--mute)}
table{border-collapse:collapse;margin:8px 0}th,td{padding:5px 12px 5px 0;text-align:left;border-bottom:1px solid var(--line)}
.num{text-align:right;font-variant-numeric:tabular-nums}
.key{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.key.scored,rect.scored{background:var(--cur);fill:var(--cur)}.key.filtered,rect.filtered{background:#93c5fd;fill:#93c5fd}.key.rejected,rect.rejected{background:var(--flag);fill:var(--flag)}
.key.refbox{background:#cbd5e1}.key.refline{background:none;border:2px solid var(--ref)}
svg.bar{display:block;border-radius:5px;overflow:hidden;background:var(--line)}
svg.chart{width:100%;max-width:760px;height:auto;display:block}
svg .cur{fill:var(--cur);opacity:.85}svg .refbar{fill:#cbd5e1}svg path.ref{fill:none;stroke:var(--ref);stroke-width:1.6}svg line.ref{stroke:#111827;stroke-width:2}
svg .axis{stroke:#9ca3af}svg .grid{stroke:var(--line);stroke-dasharray:3 3}svg text{font:11px system-ui,sans-serif;fill:var(--mute)}svg text.label{fill:var(--ink);font-family:ui-monospace,monospace}svg text.value{font-size:10px}
figure{margin:0}figcaption{color:var(--mute);font-size:13px;margin-top:4px}.was{color:var(--ref)}
.legend{color:var(--mute);font-size:13px;margin:0 0 6px}
.pair,.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
article.input{border:1px solid var(--line);border-radius:8px;padding:10px 14px}article.input.flagged{border-color:var(--flag);box-shadow:0 0 0 1px var(--flag) inset}
.psi{font-size:14px;margin:6px 0}.psi.flag{color:var(--flag)}.psi.ok{color:var(--ok)}.unseen{font-size:13px;margin:4px 0}
table.drift{width:100%}table.drift tr.flagged td{background:#fef2f2}table.drift tr.flagged .psi-value{color:var(--flag);font-weight:600}
td.meter{width:40%;position:relative}td.meter .fill{display:block;height:10px;border-radius:5px;background:var(--cur)}tr.flagged td.meter .fill{background:var(--flag)}
td.meter .mark{position:absolute;top:3px;bottom:3px;border-left:2px dashed var(--ink)}
.badge{background:var(--flag);color:#fff;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600}
details summary{cursor:pointer;color:var(--mute);font-size:13px}.empty{color:var(--mute)}
footer{color:var(--mute);font-size:12px;margin-top:20px}
`;
