// The data → plot mapping of src/pictures, without a server or a browser: scales (where a mark
// lands), empty and one-point histories, a target never measured, and names full of HTML/SVG
// special characters (escaped, never injected). The browser tests (test/integration/pictures-*.test.ts)
// check the same pages rendered for real.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NASTY, history, locateDoc, matrix, measurement, passive, targetJson } from '../fixtures/pictures/data.ts';
import { esc } from '../../src/pictures/escape.ts';
import { figureHtml, type Figure, type Mark } from '../../src/pictures/figure.ts';
import { narrowing, searchTimelineFigure, timelineProbes } from '../../src/pictures/plots/search-timeline.ts';
import { bracketHistoryFigure, timeDomain } from '../../src/pictures/plots/bracket-history.ts';
import { locateProfile, locateProfileFigure } from '../../src/pictures/plots/locate-profile.ts';
import { heartbeatMatrixFigure } from '../../src/pictures/plots/heartbeat-matrix.ts';
import { binsFromCumulative, binsFromValues, deathHistogramFigure } from '../../src/pictures/plots/death-histogram.ts';
import { sparklineSvg } from '../../src/pictures/plots/sparkline.ts';
import { DEFAULT_SORT, overviewItem, overviewPage, sortItems } from '../../src/pictures/overview.ts';
import { targetPage, trendOf } from '../../src/pictures/target-page.ts';
import { DEFAULT_STALE_AFTER_MS, MIN_STALE_AFTER_MS, staleAfterMs, targetStatus } from '../../src/pictures/status.ts';
import { captureReport, heartbeatReport, locateReport, measurementReport } from '../../src/pictures/report.ts';
import { MIN_REFRESH_SECONDS, REPORT_CSP, servedDocument } from '../../src/pictures/layout.ts';
import { STYLESHEET } from '../../src/pictures/style.ts';
import { DEATH_AGE_BUCKETS } from '../../src/capture/passive-counters.ts';
import type { HistoryRunJson, PageInfo } from '../../src/pictures/model.ts';
import { num, utcTick } from '../../src/pictures/format.ts';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const info: PageInfo = { version: '9.9.9', reloadOk: true, now: NOW, refreshSeconds: 30 };
const ctx = { command: 'idleprobe measure x --report r.html', version: '9.9.9', generatedAt: new Date(NOW), summaryText: `summary of ${NASTY}` };

const marksOf = (f: Figure, mark: string) => f.marks.filter((m) => m.mark === mark);
const point = (m: Mark): { x: number; y: number } => {
  if (m.kind === 'circle' || m.kind === 'cross') return { x: m.cx, y: m.cy };
  throw new Error(`not a point mark: ${m.kind}`);
};

/** No NaN, Infinity or undefined leaked into coordinates or text. */
function wellFormed(html: string): void {
  expect(html).not.toMatch(/NaN|Infinity|undefined/);
}

/** The nasty string appears only escaped: no tag, attribute, comment or CDATA end it could open. */
function noInjection(html: string): void {
  expect(html).not.toContain(NASTY);
  expect(html).not.toContain('<script');
  expect(html).not.toContain('<!--');
  expect(html).not.toContain(']]>');
  expect(html).toContain(esc(NASTY));
}

describe('escaping', () => {
  it('escapes the five characters that can end text or an attribute', () => {
    expect(esc(`<a href="x" onclick='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
    expect(esc(']]>')).toBe(']]&gt;');
  });

  it('a figure writes titles, tooltips, tick labels and table cells escaped', () => {
    const f = heartbeatMatrixFigure('m', { ...matrix(NASTY), results: matrix(NASTY).results.map((r) => ({ ...r, kind: NASTY })), anomalies: [NASTY] });
    const html = figureHtml(f);
    noInjection(html);
    wellFormed(html);
  });
});

describe('numbers and times', () => {
  it('seconds to the millisecond, without float noise', () => {
    expect(num(20.002000000000002)).toBe('20.002');
    expect(num(12.0505)).toBe('12.051');
    expect(num(-0.0001)).toBe('0');
    expect(num(60)).toBe('60');
  });

  it('time ticks in UTC, 24-hour, saying only what changed', () => {
    expect(utcTick(new Date('2026-12-06T22:45:00Z'))).toBe('22:45');
    expect(utcTick(new Date('2026-12-06T13:00:00Z'))).toBe('13:00');
    expect(utcTick(new Date('2026-12-06T00:00:00Z'))).toBe('Dec 06');
    expect(utcTick(new Date('2026-12-01T00:00:00Z'))).toBe('December');
    expect(utcTick(new Date('2027-01-01T00:00:00Z'))).toBe('2027');
  });
});

describe('search timeline', () => {
  const m = measurement('t', NOW - 60_000, 12, { seed: 3 });
  const out = m.results[0];

  it('one probe mark per probe, placed by its time and idle age', () => {
    const f = searchTimelineFigure('s', m.startedAt, m.elapsedSeconds, out);
    const probes = marksOf(f, 'probe');
    expect(probes).toHaveLength(out.probes.length);
    const placed = timelineProbes(m.startedAt, out.probes);
    // y grows downwards: an older (higher) idle age is drawn higher up; later probes further right.
    const byAge = [...placed].sort((a, b) => a.age - b.age);
    const ys = byAge.map((p) => point(probes[placed.indexOf(p)]).y);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThanOrEqual(ys[i - 1] + 1e-9);
    const xs = placed.map((_, i) => point(probes[i]).x);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThanOrEqual(xs[i - 1]);
    // Lived probes are dots, died ones crosses.
    expect(probes.filter((p) => p.kind === 'cross')).toHaveLength(out.probes.filter((p) => p.outcome === 'silent' || p.outcome === 'reset').length);
    const html = figureHtml(f);
    wellFormed(html);
    expect(html.match(/data-mark="probe"/g)).toHaveLength(out.probes.length);
  });

  it('the bracket narrows to (longest lived, shortest died] as probes arrive', () => {
    const probes = timelineProbes('2026-01-01T00:00:00Z', [
      { ageSeconds: 5, outcome: 'alive', at: '2026-01-01T00:00:06Z', sessionId: 'a' },
      { ageSeconds: 20, outcome: 'silent', at: '2026-01-01T00:00:21Z', sessionId: 'b' },
      { ageSeconds: 9, outcome: 'error', at: '2026-01-01T00:00:22Z', sessionId: 'c' },
      { ageSeconds: 12, outcome: 'alive', at: '2026-01-01T00:00:30Z', sessionId: 'a' },
      { ageSeconds: 15, outcome: 'reset', at: '2026-01-01T00:00:40Z', sessionId: 'd' },
    ]);
    expect(narrowing(probes).map((s) => [s.t, s.lower, s.upper])).toEqual([
      [0, null, null],
      [6, 5, null],
      [21, 5, 20],
      [30, 12, 20],
      [40, 12, 15],
    ]);
  });

  it('a direction without probes says why instead of drawing an empty plot', () => {
    const f = searchTimelineFigure('s', m.startedAt, 3, { ...out, verdict: 'unsupported', probes: [], reason: 'the account has no shell' });
    expect(f.empty).toContain('the account has no shell');
    expect(figureHtml(f)).not.toContain('<svg');
  });
});

describe('timeout over time', () => {
  it('an empty history draws nothing and says so', () => {
    const f = bracketHistoryFigure('h', [], ['outbound', 'inbound'], NOW, 30);
    expect(f.empty).toMatch(/No measurement finished in the last 30 days/);
    wellFormed(figureHtml(f));
  });

  it('one run: one mark per direction, a time axis of non-zero width around it', () => {
    const one = history('t', NOW, 1, 3600_000, 60);
    const f = bracketHistoryFigure('h', one, ['outbound', 'inbound'], NOW, 30);
    expect(marksOf(f, 'run')).toHaveLength(2);
    const [a, b] = timeDomain([one[0].finishedAtMs], NOW, 30);
    expect(b - a).toBeGreaterThan(0);
    const html = figureHtml(f);
    wellFormed(html);
    expect(f.axes[0].ticks.length).toBeGreaterThan(1);
  });

  it('every ok run and direction is a mark, every failed run a tick; estimates map onto the y scale in order', () => {
    const h = history('t', NOW, 30, 6 * 3600_000, 300);
    const f = bracketHistoryFigure('h', h, ['outbound'], NOW, 30);
    const ok = h.filter((r) => r.status === 'ok');
    expect(marksOf(f, 'run')).toHaveLength(ok.length);
    expect(marksOf(f, 'failed-run')).toHaveLength(h.length - ok.length);
    const runs = marksOf(f, 'run').map(point);
    const est = [...ok].sort((a, b) => a.finishedAtMs - b.finishedAtMs).map((r) => r.result!.results[0].estimateSeconds!);
    // The drifting-down timeout is drawn lower and lower (larger y) from left to right.
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i].x).toBeGreaterThan(runs[i - 1].x);
      expect(Math.sign(runs[i].y - runs[i - 1].y)).toBe(Math.sign(est[i - 1] - est[i]) || 0);
    }
    expect(f.table.rows).toHaveLength(ok.length + (h.length - ok.length));
    noInjection(figureHtml(f));
  });

  it('a run that found no timeout is a hollow mark at the age that lived', () => {
    const run: HistoryRunJson = { ...history('t', NOW, 1, 1, 60)[0] };
    run.result = { ...run.result!, results: [{ ...run.result!.results[0], verdict: 'no_timeout_up_to_max', lowerSeconds: 90, upperSeconds: null, estimateSeconds: null, failureMode: null }] };
    const f = bracketHistoryFigure('h', [run], ['outbound'], NOW, 30);
    const [m] = marksOf(f, 'run');
    expect(m.cls).toContain('hollow');
    expect(m.title).toContain('no timeout up to max');
  });
});

describe('locate profile', () => {
  it('T(k) is the shortest timeout beyond hop k; a step up at each box', () => {
    expect(locateProfile(locateDoc('t')).map((s) => [s.hop, s.timeoutSeconds])).toEqual([
      [0, 8.3],
      [1, 20.05],
      [2, 20.05],
      [3, null],
      [4, null],
    ]);
    const f = locateProfileFigure('l', locateDoc('t'));
    expect(marksOf(f, 'box')).toHaveLength(2);
    // Hop addresses under the axis, an unknown one as "*".
    expect(marksOf(f, 'hop').map((m) => (m.kind === 'text' ? m.text : ''))).toEqual(['198.18.1.1', '198.18.2.1', '*', '198.19.1.2']);
    wellFormed(figureHtml(f));
  });

  it('a box at or below --min is drawn at its upper bound and labelled "≤ …, below --min", never with an estimate', () => {
    const doc = locateDoc('t');
    doc.boxes[0] = { ...doc.boxes[0], lowerSeconds: null, upperSeconds: 5, estimateSeconds: null, belowMin: true };
    expect(locateProfile(doc)[0].timeoutSeconds).toBe(5);
    const f = locateProfileFigure('l', doc);
    expect(marksOf(f, 'box')).toHaveLength(2);
    const html = figureHtml(f);
    expect(html).toContain('≤ 5 s, below --min');
    expect(html).not.toContain('≈ null');
    wellFormed(html);
  });

  it('no box: no profile, the reason in words', () => {
    const f = locateProfileFigure('l', { ...locateDoc('t'), boxes: [] });
    expect(f.empty).toMatch(/No box was located/);
  });

  it('addresses and names are escaped', () => {
    const doc = locateDoc(NASTY);
    doc.hops[0].address = NASTY;
    noInjection(locateReport(doc, ctx));
  });
});

describe('heartbeat matrix', () => {
  it('one bar per session, a cross where a killed one first went unanswered', () => {
    const m = matrix('t');
    const f = heartbeatMatrixFigure('m', m);
    expect(marksOf(f, 'session')).toHaveLength(m.results.length);
    expect(f.marks.filter((x) => x.kind === 'cross')).toHaveLength(m.results.filter((r) => !r.survived && r.diedAtSeconds !== null).length);
    expect(f.table.rows.map((r) => r[0])).toEqual(['every 15 s', 'every 30 s', 'every 45 s', 'every 60 s', 'no heartbeat']);
  });

  it('rows of other kinds (tcp:) are labelled with their kind', () => {
    const m = matrix('t');
    m.results[0] = { ...m.results[0], kind: 'tcp' };
    expect(heartbeatMatrixFigure('m', m).table.rows[0][0]).toBe('tcp: every 15 s');
  });
});

describe('idle age at death', () => {
  it('cumulative buckets become per-bucket counts, with an overflow bin', () => {
    const bins = binsFromCumulative([5, 10, 30], [1, 1, 4], 6);
    expect(bins.map((b) => [b.from, b.to, b.count])).toEqual([
      [0, 5, 1],
      [5, 10, 0],
      [10, 30, 3],
      [30, null, 2],
    ]);
    expect(binsFromValues([5, 10, 30], [1, 7, 12, 29, 100]).map((b) => b.count)).toEqual([1, 1, 2, 1]);
  });

  it('one bar per bucket; none died: a message instead', () => {
    const p = passive('198.18.0.10:22');
    const bins = binsFromCumulative(p.bucketBounds, p.cumulative, p.count);
    expect(marksOf(deathHistogramFigure('d', 't', 'sessions', bins, []), 'bin')).toHaveLength(DEATH_AGE_BUCKETS.length + 1);
    expect(deathHistogramFigure('d', 't', 'sessions', binsFromValues(DEATH_AGE_BUCKETS, []), []).empty).toMatch(/No sessions died/);
  });
});

describe('status and overview', () => {
  const h = history('t', NOW, 12, 6 * 3600_000, 120);

  it('stale after twice the usual gap between runs (learnt from the runs), with a floor and a default', () => {
    expect(staleAfterMs(trendOf(h))).toBe(12 * 3600_000);
    expect(staleAfterMs([])).toBe(DEFAULT_STALE_AFTER_MS);
    expect(staleAfterMs(trendOf(history('t', NOW, 5, 1000, 60)))).toBe(MIN_STALE_AFTER_MS);
    const t = targetJson('t', h);
    expect(targetStatus(t, trendOf(h), NOW).status).toBe('ok');
    expect(targetStatus(t, trendOf(h), NOW + 13 * 3600_000).status).toBe('stale');
  });

  it('failing beats everything; masked and pending are told apart', () => {
    const t = targetJson('t', h);
    expect(targetStatus({ ...t, lastAttempt: { ...t.lastAttempt!, status: 'failed', errorKind: 'auth', error: 'denied' } }, [], NOW)).toMatchObject({ status: 'failing', why: expect.stringContaining('denied') });
    const masked = { ...t, latest: { ...t.latest!, results: t.latest!.results!.map((r) => ({ ...r, verdict: 'masked' })), serverHeartbeatSeconds: 4 } };
    expect(targetStatus(masked, trendOf(h), NOW)).toMatchObject({ status: 'masked', why: expect.stringContaining('every 4 s') });
    expect(targetStatus({ ...t, latest: null, lastAttempt: null }, [], NOW).status).toBe('pending');
  });

  it('a target never measured: a row and a page that say so, nothing drawn from nothing', () => {
    const t = targetJson('fresh', [], { running: { since: '2026-12-06T11:59:00.000Z', reason: 'startup' } });
    const item = overviewItem({ target: t, trend: [] }, NOW);
    expect(item.status).toBe('pending');
    expect(item.html).toContain('not measured yet');
    expect(item.html).toContain('no trend yet');
    const page = targetPage({ target: t, history: [], days: 30, heartbeat: null, locate: null, passive: null }, info);
    expect(page).toContain('No successful measurement yet');
    expect(page).toContain('No measurement finished in the last 30 days');
    wellFormed(page);
  });

  it('a timeout below --min is an upper bound in the overview and the target page, never "≈ ?"', () => {
    const t = targetJson('low', h);
    const results = t.latest!.results!.map((r) => ({ ...r, verdict: 'timeout', lowerSeconds: null, upperSeconds: 5, estimateSeconds: null, belowMin: true }));
    const low = { ...t, latest: { ...t.latest!, results } };
    const item = overviewItem({ target: low, trend: [] }, NOW);
    expect(item.html).toContain('≤ 5 s, below --min');
    expect(item.html).not.toContain('≈ ?');
    wellFormed(item.html);
  });

  it('sorts by any column; targets without the value last; ties by name', () => {
    const rows = [
      { target: targetJson('b', history('b', NOW, 3, 3600_000, 300)), trend: [] },
      { target: targetJson('a', history('a', NOW, 3, 3600_000, 60)), trend: [] },
      { target: targetJson('c', []), trend: [] },
    ];
    const items = rows.map((r) => overviewItem(r, NOW));
    expect(sortItems(items, { key: 'outbound', order: 'asc' }).map((i) => i.name)).toEqual(['a', 'b', 'c']);
    expect(sortItems(items, { key: 'outbound', order: 'desc' }).map((i) => i.name)).toEqual(['b', 'a', 'c']);
    expect(sortItems(items, { key: 'name', order: 'desc' }).map((i) => i.name)).toEqual(['c', 'b', 'a']);
    // Worst first by default: the pending target before the two fine ones.
    expect(sortItems(items, DEFAULT_SORT).map((i) => i.name)).toEqual(['c', 'a', 'b']);
  });

  it('the overview and a target page escape every name, error and label', () => {
    const hist = history(NASTY, NOW, 10, 3600_000, 90);
    const t = targetJson(NASTY, hist, { module: NASTY, host: NASTY });
    const page = overviewPage([overviewItem({ target: t, trend: trendOf(hist) }, NOW)], info, DEFAULT_SORT, [passive(NASTY)]);
    noInjection(page);
    wellFormed(page);
    const tp = targetPage(
      {
        target: t,
        history: hist,
        days: 30,
        heartbeat: { configured: true, latest: { finishedAt: '2026-12-06T11:00:00Z', status: 'ok', error: null, result: matrix(NASTY) }, lastAttempt: null },
        locate: { latest: { finishedAt: '2026-12-06T11:00:00Z', status: 'ok', error: null, result: locateDoc(NASTY) }, lastAttempt: null },
        passive: passive(NASTY),
      },
      info,
    );
    noInjection(tp);
    wellFormed(tp);
    // The link to the target page carries the name percent-encoded.
    expect(page).toContain(`href="/targets/${esc(encodeURIComponent(NASTY))}"`);
  });

  it('the sparkline has its latest numbers in words', () => {
    const svg = sparklineSvg(trendOf(h), 'trend of t');
    const latest = trendOf(h).filter((p) => p.ok).at(-1)!;
    expect(svg).toContain(`outbound ≈ ${latest.outbound} s`);
    expect(svg.match(/<path/g)).toHaveLength(2);
  });
});

describe('documents', () => {
  it('a served page never refreshes faster than the floor, and links only its own assets', () => {
    const doc = servedDocument({ title: 't', meta: 'm', nav: [], body: '' }, 1);
    expect(doc).toContain(`content="${MIN_REFRESH_SECONDS}"`);
    expect(servedDocument({ title: 't', meta: 'm', nav: [], body: '' }, 0)).not.toContain('http-equiv="refresh"');
    expect(doc).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('a report inlines exactly the stylesheet its CSP allows by hash; no script, no URL', () => {
    const html = measurementReport(measurement(NASTY, NOW, 12), ctx);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
    expect(style).toBe(STYLESHEET);
    const hash = createHash('sha256').update(style).digest('base64');
    expect(REPORT_CSP).toContain(`'sha256-${hash}'`);
    expect(html).toContain(`content="${esc(REPORT_CSP)}"`);
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|(src|href)="(https?:)?\/\//);
    noInjection(html);
    wellFormed(html);
  });

  it('every report kind renders its plots with their numbers', () => {
    const m = measurement('t', NOW, 12);
    expect(measurementReport(m, ctx).match(/data-mark="probe"/g)).toHaveLength(m.results.reduce((n, r) => n + r.probes.length, 0));
    expect(locateReport(locateDoc('t'), ctx).match(/data-mark="box"/g)).toHaveLength(2);
    expect(heartbeatReport(matrix('t'), ctx).match(/data-mark="session"/g)).toHaveLength(5);
    const cap = captureReport(
      {
        format: 'pcap',
        packets: 10,
        flowCount: 2,
        flowsOmitted: 0,
        flows: [
          { client: '198.18.0.1:5000', server: NASTY, maxIdleSurvivedSeconds: 30, diedAfterIdleSeconds: null, end: 'fin', verdict: 'ok' },
          { client: '198.18.0.2:5001', server: '198.18.0.9:22', maxIdleSurvivedSeconds: 10, diedAfterIdleSeconds: 45, end: 'retransmissions_then_silence', verdict: 'died idle' },
        ],
        idleTimeoutBracket: { lowerSeconds: 30, upperSeconds: 45, consistent: true },
      },
      'x.pcap',
      DEATH_AGE_BUCKETS,
      ctx,
    );
    expect(cap.match(/data-mark="flow-lived"/g)).toHaveLength(2);
    expect(cap.match(/data-mark="flow-died"/g)).toHaveLength(1);
    noInjection(cap);
  });
});
