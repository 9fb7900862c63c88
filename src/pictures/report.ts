// Self-contained HTML reports of one CLI run (`--report FILE.html` on measure, demo, locate,
// heartbeat and analyze): the same plots as `serve`'s pages, the text summary the command printed,
// inline SVG and CSS, no script and no request — the file to attach to a ticket for the network team.
import { esc } from './escape.ts';
import { num } from './format.ts';
import { figureHtml, kvTableHtml, type Figure } from './figure.ts';
import { reportDocument } from './layout.ts';
import type { HeartbeatMatrixJson, LocateDocumentJson, MeasurementJson } from './model.ts';
import { bracketText, searchTimelineFigure } from './plots/search-timeline.ts';
import { locateProfileFigure } from './plots/locate-profile.ts';
import { heartbeatMatrixFigure } from './plots/heartbeat-matrix.ts';
import { captureFlowsFigure, type CaptureBracketView, type CaptureFlowView } from './plots/capture-flows.ts';
import { binsFromValues, deathHistogramFigure } from './plots/death-histogram.ts';

export interface ReportContext {
  /** The command line that produced the run, for the record (no secrets: flags name files, not their contents). */
  command: string;
  version: string;
  /** When the report was written (the run's end). */
  generatedAt: Date;
  /** What the command printed: the text summary, verbatim. */
  summaryText: string;
}

function report(title: string, ctx: ReportContext, facts: [string, string | number | null][], figures: Figure[], extra = ''): string {
  const body = `<h2>${esc(title)}</h2>
<div class="card">${kvTableHtml([...facts, ['command', ctx.command], ['report written', ctx.generatedAt.toISOString()], ['idleprobe', ctx.version]])}</div>
<section id="summary"><h2>Summary</h2><pre class="summary-text">${esc(ctx.summaryText.trimEnd())}</pre></section>
<section id="plots"><h2>Plots</h2><div class="figures">${figures.map(figureHtml).join('')}</div></section>${extra}
<footer>Written by idleprobe ${esc(ctx.version)}. Every plot has its numbers in the table under it. The brackets are (longest idle age that lived, shortest that died].</footer>`;
  return reportDocument({ title: `idleprobe report — ${title}`, meta: ctx.generatedAt.toISOString(), nav: [], body });
}

/** `measure --report` and `demo --report`: the result per direction and each direction's search. */
export function measurementReport(m: MeasurementJson, ctx: ReportContext): string {
  const facts: [string, string | number | null][] = [
    ['target', m.target],
    ['started', m.startedAt],
    ['took', `${num(m.elapsedSeconds)} s`],
    ...m.results.map((r): [string, string] => [r.direction, bracketText(r)]),
    ['recommended heartbeat', m.recommendedHeartbeatSeconds === null ? 'none (no path timeout found)' : `ServerAliveInterval / ClientAliveInterval ≤ ${m.recommendedHeartbeatSeconds} s`],
    ['server heartbeat seen', m.serverHeartbeatSeconds === null ? 'none' : `every ${m.serverHeartbeatSeconds} s`],
  ];
  return report(`Idle timeout of ${m.target}`, ctx, facts, m.results.map((r) => searchTimelineFigure(`search-${r.direction}`, m.startedAt, m.elapsedSeconds, r)));
}

/** `locate --report`: the profile (timeout beyond each hop). */
export function locateReport(doc: LocateDocumentJson, ctx: ReportContext): string {
  const facts: [string, string | number | null][] = [
    ['target', doc.target],
    ['took', `${doc.elapsedSeconds} s`],
    ['path idle timeout', doc.pathTimeoutSeconds === null ? 'none found' : `≈ ${doc.pathTimeoutSeconds} s`],
    ['boxes located', doc.boxes.length],
  ];
  return report(`Which hop forgets idle connections: ${doc.target}`, ctx, facts, [locateProfileFigure('locate', doc)]);
}

/** `heartbeat --report`: the survival matrix. */
export function heartbeatReport(m: HeartbeatMatrixJson, ctx: ReportContext): string {
  const facts: [string, string | number | null][] = [
    ['target', m.target],
    ['started', m.startedAt],
    ['window', `${m.windowSeconds} s`],
    ['dead after', `${m.countMax} unanswered heartbeats (ServerAliveCountMax)`],
    ['highest interval that lived', m.highestSurvivingIntervalSeconds === null ? 'none' : `${m.highestSurvivingIntervalSeconds} s`],
    ['lowest interval the path killed', m.lowestFailingIntervalSeconds === null ? 'none' : `${m.lowestFailingIntervalSeconds} s`],
  ];
  return report(`Heartbeat survival: ${m.target}`, ctx, facts, [heartbeatMatrixFigure('heartbeat', m)]);
}

/** The parts of `analyze --json` a capture report draws. */
export interface CaptureReportJson {
  format: string;
  packets: number;
  flowCount: number;
  flowsOmitted: number;
  flows: (CaptureFlowView & { diedAfterIdleSeconds: number | null })[];
  idleTimeoutBracket: CaptureBracketView;
}

/** Idle ages at death, in the passive capture's buckets (the same histogram as `serve`'s). */
export function captureReport(r: CaptureReportJson, source: string, bucketBounds: readonly number[], ctx: ReportContext): string {
  const facts: [string, string | number | null][] = [
    ['capture', source],
    ['format', r.format],
    ['packets', r.packets],
    ['connections', r.flowCount],
    ['passive bracket', r.idleTimeoutBracket.lowerSeconds === null && r.idleTimeoutBracket.upperSeconds === null ? 'none' : `(${r.idleTimeoutBracket.lowerSeconds ?? '?'}, ${r.idleTimeoutBracket.upperSeconds ?? '?'}] s`],
  ];
  const deaths = r.flows.map((f) => f.diedAfterIdleSeconds).filter((v): v is number => v !== null);
  return report(`Capture ${source}`, ctx, facts, [
    captureFlowsFigure('flows', r.flows, r.idleTimeoutBracket, r.flowsOmitted),
    deathHistogramFigure('deaths', 'Idle age at death', 'listed connections', binsFromValues(bucketBounds, deaths), []),
  ]);
}
