// The page of one target (`/targets/NAME`): its state and latest result in words, then the plots —
// the timeout over time, the latest search, the locate profile, the heartbeat matrix and the
// passive histogram — each with its numbers beside it, and the recent runs.
import { esc, escUrlSegment } from './escape.ts';
import { figureHtml, kvTableHtml, tableHtml } from './figure.ts';
import { servedDocument } from './layout.ts';
import type { HistoryRunJson, PageInfo, TargetPageData, TrendPoint } from './model.ts';
import { bracketHistoryFigure } from './plots/bracket-history.ts';
import { bracketText, searchTimelineFigure } from './plots/search-timeline.ts';
import { locateProfileFigure } from './plots/locate-profile.ts';
import { heartbeatMatrixFigure } from './plots/heartbeat-matrix.ts';
import { passiveFigureHtml } from './passive.ts';
import { NAV, shortTime, statusChip } from './overview.ts';
import { targetStatus } from './status.ts';

/** Oldest first: what the sparkline and the staleness rule read from a target's history. */
export function trendOf(history: readonly HistoryRunJson[]): TrendPoint[] {
  return [...history]
    .sort((a, b) => a.finishedAtMs - b.finishedAtMs)
    .map((r) => {
      const est = (d: string) => {
        const x = r.result?.results.find((res) => res.direction === d);
        return x && x.verdict === 'timeout' ? x.estimateSeconds : null;
      };
      return { finishedAtMs: r.finishedAtMs, ok: r.status === 'ok', outbound: est('outbound'), inbound: est('inbound') };
    });
}

function section(title: string, id: string, html: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>${html}</section>`;
}

function absent(text: string): string {
  return `<p class="empty">${esc(text)}</p>`;
}

export function targetPage(d: TargetPageData, info: PageInfo): string {
  const t = d.target;
  const { status, why } = targetStatus(t, trendOf(d.history), info.now);
  const q = escUrlSegment(t.name);
  const latest = t.latest;
  const facts = kvTableHtml([
    ['address', `${t.host}:${t.port}`],
    ['module', t.module],
    ['directions', t.directions.join(', ')],
    ['schedule', t.schedule],
    ['last measured', latest ? latest.finishedAt : 'never'],
    ['next run', t.running ? `running since ${t.running.since} (${t.running.reason})` : (t.nextRunAt ?? '—')],
    ['recommended heartbeat', latest?.recommendedHeartbeatSeconds != null ? `ServerAliveInterval / ClientAliveInterval ≤ ${latest.recommendedHeartbeatSeconds} s` : '—'],
    ['server heartbeat seen', latest?.serverHeartbeatSeconds != null ? `every ${latest.serverHeartbeatSeconds} s` : 'none'],
    ['last attempt', t.lastAttempt ? `${t.lastAttempt.status} at ${t.lastAttempt.finishedAt}${t.lastAttempt.error ? `: ${t.lastAttempt.error}` : ''}` : 'none yet'],
  ]);
  const results = tableHtml({
    columns: ['direction', 'verdict', 'lower (s)', 'upper (s)', 'estimate (s)', 'failure mode', 'in words'],
    rows: (latest?.results ?? []).map((r) => [r.direction, r.verdict, r.lowerSeconds, r.upperSeconds, r.estimateSeconds, r.failureMode, bracketText(r)]),
  });

  const figures: string[] = [figureHtml(bracketHistoryFigure('history', d.history, t.directions, info.now, d.days))];
  const newestOk = d.history.find((r) => r.status === 'ok' && r.result);
  const search = newestOk?.result
    ? newestOk.result.results.map((r) => figureHtml(searchTimelineFigure(`search-${r.direction}`, newestOk.result!.startedAt, newestOk.result!.elapsedSeconds, r))).join('')
    : absent('No successful measurement yet: nothing to show.');
  const locate = !d.locate
    ? absent('Locate is off for this target (set locate: true in its config to find which hop forgets idle connections).')
    : d.locate.latest?.result
      ? figureHtml(locateProfileFigure('locate', d.locate.latest.result)) + `<p class="note">Located at ${esc(d.locate.latest.finishedAt)}.</p>`
      : absent(d.locate.lastAttempt ? `No successful locate run yet; the last attempt ${d.locate.lastAttempt.status}${d.locate.lastAttempt.error ? `: ${d.locate.lastAttempt.error}` : ''}.` : 'No locate run yet (it follows a measurement that found a timeout).');
  const matrix = !d.heartbeat
    ? absent('No heartbeat matrix configured for this target (add heartbeat: to it or its module).')
    : d.heartbeat.latest?.result
      ? figureHtml(heartbeatMatrixFigure('heartbeat', d.heartbeat.latest.result)) + `<p class="note">Matrix finished at ${esc(d.heartbeat.latest.finishedAt)}.</p>`
      : absent(d.heartbeat.lastAttempt ? `No successful matrix yet; the last attempt ${d.heartbeat.lastAttempt.status}${d.heartbeat.lastAttempt.error ? `: ${d.heartbeat.lastAttempt.error}` : ''}.` : 'No matrix run yet.');
  const recent = tableHtml({
    columns: ['finished', 'status', 'duration (s)', 'result / error'],
    rows: d.history.slice(0, 20).map((r) => [new Date(r.finishedAtMs).toISOString(), r.status, r.durationSeconds, r.status === 'ok' && r.result ? r.result.results.map((x) => `${x.direction} ${bracketText(x)}`).join('; ') : `${r.errorKind ?? 'error'}: ${r.error ?? ''}`]),
  });
  const api = `<p class="lead">JSON: <a href="/api/targets/${q}/history">history</a>${d.heartbeat ? ` · <a href="/api/targets/${q}/heartbeat">heartbeat matrix</a>` : ''}${d.locate ? ` · <a href="/api/targets/${q}/locate">locate</a>` : ''} · <a href="/probe?target=${q}">metrics of this target</a> · <a href="/probe?target=${q}&amp;debug=true">probe log</a></p>`;
  const refresh = info.refreshSeconds > 0 ? `This page reloads every ${info.refreshSeconds} s (<a href="/targets/${q}?days=${d.days}&amp;refresh=0">stop</a>).` : `Auto-refresh is off (<a href="/targets/${q}?days=${d.days}">turn on</a>).`;
  const body = `<p class="lead"><a href="/">All targets</a> › ${esc(t.name)}</p>
<h2>${esc(t.name)} ${statusChip(status)}</h2><p class="lead" data-why>${esc(why)}</p><p class="lead refresh">${refresh}</p>
<div class="card">${facts}</div>
${section('Latest result', 'latest', `<div class="card">${results}</div>`)}
${section('Timeout over time', 'over-time', `<div class="figures">${figures.join('')}</div>`)}
${section('Latest search', 'search', `<div class="figures">${search}</div>`)}
${section('Which hop forgets (locate)', 'locate-section', locate)}
${section('Heartbeat survival', 'heartbeat-section', matrix)}
${d.passive ? section('Passive capture', 'passive-section', passiveFigureHtml('passive', d.passive)) : ''}
${section('Recent runs', 'runs', `<div class="card">${recent}</div>`)}
${api}`;
  return servedDocument({ title: `idleprobe — ${t.name}`, meta: `version ${info.version} · ${shortTime(new Date(info.now).toISOString())}`, nav: NAV, body }, info.refreshSeconds);
}
