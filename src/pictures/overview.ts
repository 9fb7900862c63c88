// The fleet overview (`/`): one row per target — status colour, each direction's bracket, a
// sparkline of its timeout, the heartbeat to use, when it was measured — worst first, sortable by
// every column through plain links (no script). A row's HTML depends only on its target's data and
// status, so `serve` keeps it between renders and rebuilds only the rows that changed.
import { esc, escUrlSegment } from './escape.ts';
import { num } from './format.ts';
import { servedDocument } from './layout.ts';
import type { OverviewRow, PageInfo, PassiveServerView } from './model.ts';
import { sparklineSvg } from './plots/sparkline.ts';
import { bracketText } from './plots/search-timeline.ts';
import { STATUS_LABEL, STATUS_ORDER, staleAtMs, targetStatus, type TargetStatus } from './status.ts';
import { passiveSection } from './passive.ts';

export const SORT_KEYS = ['status', 'name', 'outbound', 'inbound', 'heartbeat', 'measured'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export interface SortSpec {
  key: SortKey;
  order: 'asc' | 'desc';
}
export const DEFAULT_SORT: SortSpec = { key: 'status', order: 'asc' };

/** A rendered row and what it sorts by. */
export interface OverviewItem {
  name: string;
  status: TargetStatus;
  outbound: number | null;
  inbound: number | null;
  heartbeat: number | null;
  measuredAtMs: number | null;
  /** When the row's status will move with time alone (its result going stale); null if it will not. */
  changesAt: number | null;
  html: string;
}

/** "2026-12-06 22:41:07Z": ISO 8601, compact enough for a cell; only the time when on the day of `now`. */
export function shortTime(iso: string | null | undefined, now?: number): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const full = d.toISOString();
  if (now !== undefined && new Date(now).toISOString().slice(0, 10) === full.slice(0, 10)) return `${full.slice(11, 19)}Z`;
  return `${full.slice(0, 16).replace('T', ' ')}Z`;
}

export function statusChip(status: TargetStatus): string {
  return `<span class="status ${status}">${esc(STATUS_LABEL[status])}</span>`;
}

function directionCell(row: OverviewRow, direction: 'outbound' | 'inbound'): string {
  const t = row.target;
  if (!t.directions.includes(direction)) return '<td class="none" data-direction="' + direction + '">not measured (off)</td>';
  const r = t.latest?.results?.find((x) => x.direction === direction);
  if (!r) return `<td class="none" data-direction="${direction}">not measured yet</td>`;
  const v = (n: number | null) => (n === null ? '?' : num(n));
  const lead = r.verdict === 'timeout' && r.belowMin && r.upperSeconds !== null ? `≤ ${num(r.upperSeconds)} s, below --min` : r.verdict === 'timeout' && r.estimateSeconds !== null ? `≈ ${num(r.estimateSeconds)} s` : r.verdict === 'no_timeout_up_to_max' ? `none up to ${v(r.lowerSeconds)} s` : r.verdict.replaceAll('_', ' ');
  const reason = r.reason ?? '';
  const detail = r.verdict === 'timeout' ? `(${v(r.lowerSeconds)}, ${v(r.upperSeconds)}] s${r.failureMode ? `, ${r.failureMode}` : ''}` : reason.length > 90 ? `${reason.slice(0, 87)}…` : reason;
  return `<td data-direction="${direction}" data-verdict="${esc(r.verdict)}" title="${esc(bracketText(r))}"><b>${esc(lead)}</b><span class="sub">${esc(detail)}</span></td>`;
}

export function overviewItem(row: OverviewRow, now: number): OverviewItem {
  const t = row.target;
  const trend = row.trend ?? [];
  const { status, why } = targetStatus(t, trend, now);
  const staleAt = staleAtMs(t, trend);
  const estimate = (d: string) => t.latest?.results?.find((r) => r.direction === d)?.estimateSeconds ?? null;
  const hb = t.latest?.recommendedHeartbeatSeconds ?? null;
  const activity = t.running ? `measuring since ${shortTime(t.running.since, now)}` : t.nextRunAt ? shortTime(t.nextRunAt, now) : '—';
  const html =
    `<tr class="row-${status}" data-target="${esc(t.name)}" data-status="${status}">` +
    `<td class="name"><a href="/targets/${escUrlSegment(t.name)}">${esc(t.name)}</a><span class="sub">${esc(`${t.host}:${t.port} · ${t.module}`)}</span></td>` +
    `<td class="state">${statusChip(status)}${status === 'ok' ? '' : `<span class="sub why" title="${esc(why)}">${esc(why.length > 140 ? `${why.slice(0, 137)}…` : why)}</span>`}</td>` +
    directionCell(row, 'outbound') +
    directionCell(row, 'inbound') +
    `<td class="trend">${row.trend ? sparklineSvg(row.trend, `timeout trend of ${t.name}`) : '<span class="spark-none">reading history…</span>'}</td>` +
    (hb === null ? '<td class="none">—</td>' : `<td class="num" data-heartbeat="${hb}">≤ ${esc(num(hb))} s</td>`) +
    `<td class="when" title="${esc(t.latest?.finishedAt ?? '')}">${esc(shortTime(t.latest?.finishedAt, now))}</td>` +
    `<td class="when">${esc(activity)}</td></tr>`;
  return { name: t.name, status, outbound: estimate('outbound'), inbound: estimate('inbound'), heartbeat: hb, measuredAtMs: t.latest ? Date.parse(t.latest.finishedAt) : null, changesAt: staleAt !== null && staleAt > now && status !== 'failing' ? staleAt : null, html };
}

const byName = (a: OverviewItem, b: OverviewItem) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Sorted copy; targets without the value sort last whatever the order, ties by name. */
export function sortItems(items: readonly OverviewItem[], sort: SortSpec): OverviewItem[] {
  const sign = sort.order === 'asc' ? 1 : -1;
  const numeric = (get: (i: OverviewItem) => number | null) => (a: OverviewItem, b: OverviewItem) => {
    const va = get(a);
    const vb = get(b);
    if (va === null && vb === null) return byName(a, b);
    if (va === null) return 1;
    if (vb === null) return -1;
    return (va - vb) * sign || byName(a, b);
  };
  const cmp: Record<SortKey, (a: OverviewItem, b: OverviewItem) => number> = {
    status: (a, b) => (STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status)) * sign || byName(a, b),
    name: (a, b) => byName(a, b) * sign,
    outbound: numeric((i) => i.outbound),
    inbound: numeric((i) => i.inbound),
    heartbeat: numeric((i) => i.heartbeat),
    measured: numeric((i) => i.measuredAtMs),
  };
  return [...items].sort(cmp[sort.key]);
}

function sortLink(label: string, key: SortKey, sort: SortSpec, refresh: string): string {
  const active = sort.key === key;
  const order = active && sort.order === 'asc' ? 'desc' : 'asc';
  const arrow = active ? (sort.order === 'asc' ? ' ▲' : ' ▼') : '';
  return `<th scope="col" aria-sort="${active ? (sort.order === 'asc' ? 'ascending' : 'descending') : 'none'}"><a class="${active ? 'sorted' : ''}" href="/?sort=${key}&amp;order=${order}${refresh}">${esc(label)}${arrow}</a></th>`;
}

export function overviewPage(items: readonly OverviewItem[], info: PageInfo, sort: SortSpec, passive: readonly PassiveServerView[] | null): string {
  const counts = new Map<TargetStatus, number>(STATUS_ORDER.map((s) => [s, 0]));
  for (const i of items) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
  const refreshQuery = info.refreshSeconds === 0 ? '&amp;refresh=0' : '';
  const sorted = sortItems(items, sort);
  const summary = `<ul class="summary" aria-label="targets by status"><li><span class="n" data-count="all">${items.length}</span><span class="k">targets</span></li>${STATUS_ORDER.map((s) => `<li><span class="n" data-count="${s}">${counts.get(s)}</span><span class="k">${statusChip(s)}</span></li>`).join('')}</ul>`;
  const head = `<tr>${sortLink('Target', 'name', sort, refreshQuery)}${sortLink('Status', 'status', sort, refreshQuery)}${sortLink('Outbound timeout', 'outbound', sort, refreshQuery)}${sortLink('Inbound timeout', 'inbound', sort, refreshQuery)}<th scope="col">Timeout trend</th>${sortLink('Heartbeat', 'heartbeat', sort, refreshQuery)}${sortLink('Last measured', 'measured', sort, refreshQuery)}<th scope="col">Next</th></tr>`;
  const rows = sorted.length ? sorted.map((i) => i.html).join('\n') : '<tr><td colspan="8" class="none">no targets configured</td></tr>';
  const refreshNote =
    info.refreshSeconds > 0
      ? `This page reloads every ${info.refreshSeconds} s (<a href="/?sort=${sort.key}&amp;order=${sort.order}&amp;refresh=0">stop</a>).`
      : `Auto-refresh is off (<a href="/?sort=${sort.key}&amp;order=${sort.order}">turn on</a>).`;
  const reload = info.reloadOk ? '' : '<p class="warn">The last config reload <b>failed</b>: the daemon runs the previous config (see its log, or <code>idleprobe serve --config.check</code>).</p>';
  const body = `${reload}<p class="lead">Where networks drop idle SSH connections: each target's idle timeout per direction (bracket <i>(longest idle age that lived, shortest that died]</i>), the heartbeat interval that keeps sessions alive, and how it moved. Values are cached results of measurements that take minutes; a page view never starts one. <span class="refresh">${refreshNote}</span></p>
${summary}
<div class="card wide"><table class="overview"><caption class="sr-only">Targets sorted by ${esc(sort.key)}, ${sort.order === 'asc' ? 'ascending' : 'descending'}</caption><thead>${head}</thead><tbody>
${rows}
</tbody></table></div>
${passive ? passiveSection(passive) : ''}`;
  return servedDocument(
    {
      title: `idleprobe — ${items.length} target${items.length === 1 ? '' : 's'}${counts.get('failing') ? `, ${counts.get('failing')} failing` : ''}`,
      meta: `version ${info.version} · ${shortTime(new Date(info.now).toISOString())}`,
      nav: NAV,
      body,
    },
    info.refreshSeconds,
  );
}

export const NAV = [
  { href: '/', label: 'Targets' },
  { href: '/metrics', label: 'Metrics' },
  { href: '/api/targets', label: 'JSON API' },
  { href: '/-/healthy', label: 'Health' },
];
