// The one stylesheet of the pages and the reports. `serve` sends it as a file (/assets/idleprobe-<hash>.css,
// so its strict CSP needs no inline style); a report inlines it, allowed by its hash in the report's
// own CSP. Colours: outbound blue, inbound orange, lived green, died red, and one per status —
// each also told apart by shape or text, never by colour alone.
import { createHash } from 'node:crypto';

export const STYLESHEET = `
:root{--bg:#f4f5f7;--card:#fff;--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--grid:#eaeef2;
--out:#1f6feb;--in:#d4640b;--alive:#1a7f37;--failed:#cf222e;--other:#6e7781;--band:#8250df;
--ok:#1a7f37;--failing:#cf222e;--stale:#6e7781;--masked:#bf8700;--inconclusive:#9a6700;--pending:#0969da}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
body{margin:0}
a{color:#0550ae;text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#24292f;color:#f6f8fa;padding:.7rem 1.5rem;display:flex;flex-wrap:wrap;align-items:baseline;gap:.4rem 1.5rem}
header.top h1{font-size:1.15rem;margin:0;font-weight:600}
header.top h1 a{color:#f6f8fa}
header.top nav{display:flex;flex-wrap:wrap;gap:1rem;font-size:.9rem}
header.top nav a{color:#c9d1d9}
header.top .meta{margin-left:auto;color:#8c959f;font-size:.85rem}
main{max-width:1320px;margin:0 auto;padding:1.2rem 1.5rem 3rem}
h2{font-size:1.2rem;margin:1.6rem 0 .6rem}
h3{font-size:1rem;margin:0 0 .4rem}
p{margin:.35rem 0}
.lead{color:var(--muted);max-width:60rem}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.5rem .8rem}
.summary{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0 1rem;padding:0;list-style:none}
.summary li{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.45rem .9rem;min-width:7.5rem}
.summary .n{display:block;font-size:1.4rem;font-weight:600;line-height:1.2}
.summary .k{color:var(--muted);font-size:.85rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--grid);vertical-align:middle}
thead th{font-weight:600;color:var(--muted);font-size:.85rem;border-bottom:1px solid var(--line);white-space:nowrap}
thead th a{color:inherit}
thead th a.sorted{color:var(--ink)}
tbody tr:hover{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.none{color:var(--muted)}
table.overview td{white-space:nowrap}
table.overview td.name a{font-weight:600}
table.overview td.state{white-space:normal;min-width:7rem;max-width:18rem}
table.overview .sub{display:block;color:var(--muted);font-size:.8rem;font-weight:400;white-space:normal}
table.overview td.when{font-size:.85rem;color:var(--muted)}
.card.wide{overflow-x:auto}
th.num{text-align:right}
table.numbers{font-size:.85rem}
table.numbers td,table.numbers th{padding:.2rem .5rem}
table.kv{width:auto}
table.kv th{color:var(--muted);font-weight:500;padding-right:1.2rem}
.status{display:inline-block;border-radius:999px;padding:.05rem .6rem;font-size:.8rem;font-weight:600;color:#fff;white-space:nowrap}
.status.ok{background:var(--ok)}.status.failing{background:var(--failing)}.status.stale{background:var(--stale)}
.status.masked{background:var(--masked)}.status.inconclusive{background:var(--inconclusive)}.status.pending{background:var(--pending)}
tr.row-failing td:first-child{box-shadow:inset 4px 0 0 var(--failing)}
tr.row-stale td:first-child{box-shadow:inset 4px 0 0 var(--stale)}
tr.row-masked td:first-child{box-shadow:inset 4px 0 0 var(--masked)}
tr.row-inconclusive td:first-child{box-shadow:inset 4px 0 0 var(--inconclusive)}
tr.row-pending td:first-child{box-shadow:inset 4px 0 0 var(--pending)}
tr.row-ok td:first-child{box-shadow:inset 4px 0 0 var(--ok)}
.figures{display:grid;grid-template-columns:1fr;gap:1rem}
figure.figure{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin:0}
svg.plot{display:block;width:100%;max-width:960px;height:auto;overflow:visible}
figcaption{margin-top:.5rem}
figcaption .what{color:var(--muted)}
figcaption .note{font-weight:500}
p.empty{color:var(--muted);background:#f6f8fa;border:1px dashed var(--line);border-radius:6px;padding:1.4rem;text-align:center}
details.numbers{margin-top:.4rem}
details.numbers summary{cursor:pointer;color:#0550ae;font-size:.85rem}
ul.legend{list-style:none;display:flex;flex-wrap:wrap;gap:.3rem 1.1rem;padding:0;margin:.4rem 0;font-size:.85rem;color:var(--muted)}
ul.legend li{display:flex;align-items:center;gap:.35rem}
.key{display:inline-block;width:14px;height:10px}
.key-swatch{border-radius:2px;opacity:.55}
.key-dot{width:10px;height:10px;border-radius:50%}
.key-cross{width:11px;height:11px;background:none!important;position:relative}
.key-cross::before,.key-cross::after{content:"";position:absolute;left:5px;top:-1px;width:2px;height:13px;background:var(--failed)}
.key-cross::before{transform:rotate(45deg)}.key-cross::after{transform:rotate(-45deg)}
.key-line{height:2px}
.key-dash{height:0;border-top:2px dashed var(--ink);background:none!important}
.key.band-outbound,.key.run-outbound{background:var(--out)}
.key.band-inbound,.key.run-inbound{background:var(--in)}
.key.alive,.key.hb-lived{background:var(--alive)}
.key.failed{background:var(--failed)}
.key.session{background:#afb8c1}
.key.bracket-band{background:var(--band)}
.key.estimate{border-color:var(--band)}
.key.hollow{background:none;border:2px solid var(--other)}
.key.failed-run{background:var(--failed);height:10px;width:3px}
.key.profile{background:var(--band);height:3px}
.key.box{background:var(--failed)}
.key.hb-until-death{background:#e6a23c}
svg text{font-family:inherit}
.tick-label{font-size:11px;fill:var(--muted)}
.axis-label{font-size:11px;fill:var(--muted)}
.axis,.tick{stroke:#8c959f;stroke-width:1}
.grid{stroke:var(--grid);stroke-width:1}
.band{stroke:none;opacity:.22}
.band-outbound{fill:var(--out)}.band-inbound{fill:var(--in)}
.trend{fill:none;stroke-width:1.5;opacity:.8}
.trend-outbound{stroke:var(--out)}.trend-inbound{stroke:var(--in)}
.run{stroke:#fff;stroke-width:1}
.run-outbound{fill:var(--out)}.run-inbound{fill:var(--in)}
.run.hollow{fill:#fff;stroke-width:2}
.run.hollow.run-outbound{stroke:var(--out)}.run.hollow.run-inbound{stroke:var(--in)}
.failed-run{stroke:var(--failed);stroke-width:2.5}
.session{stroke:#afb8c1;stroke-width:1;opacity:.7}
.session.failed{stroke:#ff8182}
.bracket-band{fill:var(--band);opacity:.12}
.bound{fill:none;stroke:var(--band);stroke-width:1.5}
.bound-upper{stroke-dasharray:4 3}
.estimate{stroke:var(--band);stroke-width:1.2;stroke-dasharray:6 4}
.estimate-label{font-size:11px;fill:var(--band);font-weight:600}
.probe.alive{fill:var(--alive);stroke:#fff;stroke-width:1}
.probe.failed{fill:none;stroke:var(--failed);stroke-width:2.2}
.probe.other{fill:#fff;stroke:var(--other);stroke-width:1.5}
.profile{fill:none;stroke:var(--band);stroke-width:2.5}
.profile-open{font-size:11px;fill:var(--muted);font-style:italic}
.box{fill:var(--failed);stroke:#fff;stroke-width:1.5}
.box-bracket{stroke:var(--failed);stroke-width:3;opacity:.45}
.box-label{font-size:12px;font-weight:600;fill:var(--failed)}
.hop-address{font-size:10.5px;fill:var(--ink)}
.hb-lived{fill:var(--alive);opacity:.75}
.hb-until-death{fill:#e6a23c;opacity:.75}
.hb-dying{stroke:var(--failed);stroke-width:2;stroke-dasharray:3 2}
.cross,.failed{stroke:var(--failed);stroke-width:2.2;fill:none}
.hb-fate{font-size:11.5px}.hb-fate.lived{fill:var(--alive)}.hb-fate.died{fill:var(--failed)}
.bin{fill:var(--band);opacity:.75}.bin.empty{opacity:.2}
.bin-label{font-size:11px;fill:var(--ink)}
svg.sparkline{display:block;overflow:visible}
.spark{fill:none;stroke-width:1.5}
.spark-outbound{stroke:var(--out)}.spark-inbound{stroke:var(--in)}
circle.spark-outbound{fill:var(--out);stroke:none}circle.spark-inbound{fill:var(--in);stroke:none}
.spark-none{color:var(--muted);font-size:.85rem}
pre.summary-text{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;overflow-x:auto;font-size:12.5px;line-height:1.4;white-space:pre-wrap}
footer{color:var(--muted);font-size:.8rem;margin-top:2rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media print{html{background:#fff}header.top{background:#fff;color:#000}header.top nav,.refresh{display:none}figure.figure,.card{break-inside:avoid;border-color:#bbb}details.numbers>*{display:block}}
`.trim();

/** Short content hash: the stylesheet's URL changes with it, so browsers may cache it for good. */
export const STYLESHEET_HASH = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 12);

/** The CSP source that allows exactly this stylesheet inline (reports). */
export const STYLESHEET_CSP_HASH = `'sha256-${createHash('sha256').update(STYLESHEET).digest('base64')}'`;

/** The pages' icon (served as a file, so browsers do not ask for a missing /favicon.ico). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#24292f"/><path d="M5 24 L12 24 L12 14 L20 14 L20 8 L27 8" fill="none" stroke="#8250df" stroke-width="3"/><circle cx="20" cy="14" r="3" fill="#cf222e"/></svg>`;
export const FAVICON_HASH = createHash('sha256').update(FAVICON_SVG).digest('hex').slice(0, 12);
