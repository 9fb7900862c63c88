// The `/` landing page: what blackbox_exporter shows at its root, plus each target's latest bracket.
import type { TargetSnapshot } from '../read-model/read-model.ts';
import { HEARTBEAT, MEASUREMENT } from '../read-model/kinds.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmtSeconds(v: number | null | undefined): string {
  return v === null || v === undefined ? '?' : `${Math.round(v * 10) / 10}`;
}

/** "(lower, upper] s, ≈ estimate s" or the verdict when no bracket was found. */
export function describeBracket(r: { verdict: string; lowerSeconds: number | null; upperSeconds: number | null; estimateSeconds: number | null; failureMode: string | null }): string {
  if (r.verdict === 'timeout') {
    return `(${fmtSeconds(r.lowerSeconds)}, ${fmtSeconds(r.upperSeconds)}] s ≈ ${fmtSeconds(r.estimateSeconds)} s${r.failureMode ? `, ${r.failureMode}` : ''}`;
  }
  if (r.verdict === 'no_timeout_up_to_max') return `no timeout up to ${fmtSeconds(r.lowerSeconds)} s`;
  return r.verdict;
}

export function renderLanding(targets: TargetSnapshot[], info: { version: string; reloadOk: boolean }): string {
  const rows = targets
    .map((t) => {
      const measured = MEASUREMENT.of(t);
      const matrix = HEARTBEAT.of(t);
      const name = escapeHtml(t.name);
      const q = encodeURIComponent(t.name);
      const byDir = new Map((measured?.latestOk?.result?.results ?? []).map((r) => [r.direction, r]));
      const cells = (['outbound', 'inbound'] as const)
        .map((d) => {
          const r = byDir.get(d);
          if (!t.directions.includes(d)) return '<td>—</td>';
          return `<td>${r ? escapeHtml(describeBracket(r)) : 'not measured yet'}</td>`;
        })
        .join('');
      const when = measured?.latestOk ? new Date(measured.latestOk.finishedAtMs).toISOString() : 'never';
      const status = measured?.running
        ? `measuring since ${new Date(measured.running.since).toISOString()}`
        : matrix?.running
          ? `heartbeat matrix since ${new Date(matrix.running.since).toISOString()}`
          : measured?.latest?.status === 'failed'
            ? `last attempt failed (${escapeHtml(measured.latest.errorKind ?? 'error')})`
            : 'idle';
      const matrixLink = matrix ? ` <a href="/api/targets/${q}/heartbeat">heartbeat matrix</a>` : '';
      return `<tr><td>${name}</td><td>${escapeHtml(`${t.host}:${t.port}`)}</td><td>${escapeHtml(t.module)}</td>${cells}<td>${when}</td><td>${status}</td>
<td><a href="/probe?target=${q}">probe</a> <a href="/probe?target=${q}&amp;debug=true">debug</a> <a href="/api/targets/${q}/history">history</a>${matrixLink}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>idleprobe exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style>
</head><body>
<h1>idleprobe exporter</h1>
<p>Measures where networks drop idle SSH connections. Values are cached results of measurements that take minutes.
Version ${escapeHtml(info.version)}. Last config reload: ${info.reloadOk ? 'successful' : '<b>failed</b> (running the previous config)'}.</p>
<p><a href="/metrics">Metrics</a> · <a href="/api/targets">Targets (JSON)</a> · <a href="/-/healthy">Health</a> · <a href="/-/ready">Ready</a></p>
<h2>Targets</h2>
<table><thead><tr><th>Target</th><th>Address</th><th>Module</th><th>Outbound timeout</th><th>Inbound timeout</th><th>Last measured</th><th>Status</th><th></th></tr></thead>
<tbody>
${rows || '<tr><td colspan="8">no targets configured</td></tr>'}
</tbody></table>
</body></html>
`;
}
