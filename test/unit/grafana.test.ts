// The shipped Grafana dashboards and provisioning: generated from grafana/tools/dashboards.ts, provisionable
// from files (fixed uid, a `datasource` variable instead of ${DS_PROMETHEUS}), every panel's PromQL reads
// only metrics that a real `idleprobe serve` run exports, and the template variables resolve.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { DASHBOARDS, OVERVIEW_UID, TARGET_UID } from '../../grafana/tools/dashboards.ts';
import { renderDashboard } from '../../grafana/tools/build-dashboards.ts';
import { labelValuesMetric, metricNamesIn } from '../../grafana/tools/promql-names.ts';
import { exposedMetricNames, startDemoDaemon, type DemoDaemon } from '../../grafana/tools/demo-daemon.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const dashboardDir = path.join(repo, 'grafana', 'dashboards');

interface Target { expr: string; datasource: { type: string; uid: string }; refId: string }
interface Panel { type: string; title: string; description?: string; datasource?: { uid: string }; targets?: Target[]; gridPos: { x: number; y: number; w: number; h: number }; repeat?: string; panels?: Panel[] }
interface Variable { name: string; type: string; query: unknown; definition?: string; datasource?: { uid: string } }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] }; __inputs?: unknown }

const files = readdirSync(dashboardDir).filter((f) => f.endsWith('.json')).sort();
const dashboards = files.map((f) => ({ file: f, text: readFileSync(path.join(dashboardDir, f), 'utf8'), json: JSON.parse(readFileSync(path.join(dashboardDir, f), 'utf8')) as Dashboard }));

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}
function queryPanels(d: Dashboard): Panel[] {
  return allPanels(d).filter((p) => p.type !== 'row');
}
function exprs(d: Dashboard): { panel: string; expr: string }[] {
  return queryPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}
function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
}

// The heartbeat survival matrix panels read these; the demo daemon runs a short matrix on `demo` to export them.
const HEARTBEAT_MATRIX_METRICS = [METRIC.heartbeatSurvived, METRIC.heartbeatSurvivedSeconds, METRIC.heartbeatUnanswered];

describe('dashboard files', () => {
  it('are exactly what grafana/tools/dashboards.ts generates (run node --import tsx grafana/tools/build-dashboards.ts)', () => {
    expect(files).toEqual(DASHBOARDS.map((d) => d.file).sort());
    for (const d of DASHBOARDS) {
      expect(readFileSync(path.join(dashboardDir, d.file), 'utf8'), d.file).toBe(renderDashboard(d.build));
    }
  });

  it.each(dashboards.map((d) => [d.file, d] as const))('%s: provisionable from a file (fixed uid, no ${DS_…} inputs)', (_f, d) => {
    expect([OVERVIEW_UID, TARGET_UID]).toContain(d.json.uid);
    expect(d.json.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.json.__inputs).toBeUndefined();
    expect(d.text).not.toMatch(/\$\{DS_/);
    expect(d.json.title).toMatch(/^idleprobe \//);
  });

  it('uids are unique', () => {
    expect(new Set(dashboards.map((d) => d.json.uid)).size).toBe(dashboards.length);
  });

  it.each(dashboards.map((d) => [d.file, d] as const))('%s: every query uses the datasource variable', (_f, d) => {
    const vars = d.json.templating.list;
    const ds = vars.find((v) => v.name === 'datasource');
    expect(ds?.type).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    for (const p of queryPanels(d.json)) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length ?? 0, `${p.title} has no query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource.uid, p.title).toBe('${datasource}');
    }
    for (const v of vars.filter((v) => v.type === 'query')) expect(v.datasource?.uid, v.name).toBe('${datasource}');
  });

  it.each(dashboards.map((d) => [d.file, d] as const))('%s: every panel explains itself and panels do not overlap', (_f, d) => {
    const cells = new Set<string>();
    for (const p of allPanels(d.json)) {
      if (p.type !== 'row') expect(p.description?.length ?? 0, `${p.title}: description`).toBeGreaterThan(20);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const key = `${x},${y}`;
          expect(cells.has(key), `${p.title} overlaps at ${key}`).toBe(false);
          cells.add(key);
        }
      }
    }
  });

  it.each(dashboards.map((d) => [d.file, d] as const))('%s: has a target variable from an exported metric, and uses it', (_f, d) => {
    const target = d.json.templating.list.find((v) => v.name === 'target');
    expect(target?.type).toBe('query');
    const lv = labelValuesMetric(variableQuery(target!));
    expect(lv?.label).toBe('target');
    expect(Object.values(METRIC)).toContain(lv?.metric);
    for (const { panel, expr } of exprs(d.json)) {
      // Everything but daemon-wide metrics is filtered by the selected target; passive series by server.
      if (expr.includes('idleprobe_config_') || expr.includes('idleprobe_passive_capture_')) continue;
      if (expr.includes('idleprobe_passive_')) expect(expr, panel).toMatch(/server=~"\$server"/);
      else expect(expr, panel).toMatch(/target=~?"\$target"/);
    }
  });

  it('the overview shows the panels the issue asks for', () => {
    const overview = dashboards.find((d) => d.json.uid === OVERVIEW_UID)!.json;
    const byTitle = new Map(queryPanels(overview).map((p) => [p.title, p]));
    const band = byTitle.get('Idle timeout bracket: $target');
    expect(band?.repeat).toBe('target'); // one band per target
    expect(JSON.stringify(band)).toContain('fillBelowTo');
    expect(byTitle.get('Failure mode')?.type).toBe('state-timeline');
    expect(byTitle.get('Time since last measurement')).toBeDefined();
    expect((byTitle.get('Idle timeout, 30 days') as unknown as { timeFrom: string }).timeFrom).toBe('30d');
    expect(byTitle.get('Sentinel deaths')).toBeDefined();
    expect(JSON.stringify(byTitle.get('Heartbeat survival matrix'))).toContain('groupingToMatrix');
    // Issue 23: the tcp:N rows in a matrix of their own, the "does tcp_keepalive_time help" verdict per target
    // (yes / no / unknown for every measured target), and `closed` with its own code, text and colour.
    const heartbeatMatrix = byTitle.get('Heartbeat survival matrix')!.targets![0].expr;
    expect(heartbeatMatrix).toContain('interval!~"tcp:.+"');
    const tcpRows = byTitle.get('Kernel TCP keepalive rows (tcp:N)')!;
    expect(tcpRows.targets![0].expr).toContain('interval=~"tcp:.+"');
    expect(JSON.stringify(tcpRows)).toContain('groupingToMatrix');
    const verdict = JSON.stringify(byTitle.get('Does lowering tcp_keepalive_time help?'));
    expect(verdict).toContain(METRIC.tcpKeepaliveRefreshesPath);
    expect(verdict).toContain('idleprobe_measurements_total'); // the "unknown" rows
    for (const text of ['unknown (add tcp:N rows)', 'no: only SSH heartbeats help', 'yes: NAT/firewall counts them']) expect(verdict).toContain(text);
    const failureMode = JSON.stringify(byTitle.get('Failure mode'));
    expect(failureMode).toContain('mode=\\"closed\\"');
    expect(failureMode).toContain('"4":{"text":"closed by a proxy","color":"purple"');
    expect(JSON.stringify(byTitle.get('Middleboxes: where idle connections are forgotten'))).toContain('idleprobe_middlebox_timeout_seconds');
    expect(JSON.stringify(byTitle.get('Hop enforcing the idle timeout'))).toContain('idleprobe_middlebox_hop');
    // Issue 15: the passive row, one panel per passive family, filtered by the `server` variable.
    const passive = JSON.stringify(queryPanels(overview).filter((p) => p.title.startsWith('Passive')));
    for (const name of Object.values(METRIC).filter((m) => m.startsWith('idleprobe_passive_'))) expect(passive, name).toContain(name);
    expect(overview.templating.list.find((v) => v.name === 'server')?.type).toBe('query');
  });

  it('the target dashboard shows the tcp:N rows apart and whether kernel keepalives keep the path alive', () => {
    const target = dashboards.find((d) => d.json.uid === TARGET_UID)!.json;
    const byTitle = new Map(queryPanels(target).map((p) => [p.title, p]));
    const keepalives = byTitle.get('Kernel TCP keepalives keep this path alive')!;
    expect(keepalives.type).toBe('stat');
    // Unknown (-1) when no matrix with tcp: rows told, instead of "No data".
    expect(keepalives.targets![0].expr).toBe(`max(${METRIC.tcpKeepaliveRefreshesPath}{target="$target", site=~"$site"}) or vector(-1)`);
    const lived = byTitle.get('Seconds survived per heartbeat interval')!;
    expect(lived.targets!.map((t) => t.expr.match(/interval[!=]~"tcp:\.\+"/)?.[0])).toEqual(['interval!~"tcp:.+"', 'interval=~"tcp:.+"']);
    expect(JSON.stringify(byTitle.get('Failure mode'))).toContain('closed by a proxy');
  });
});

describe('provisioning files', () => {
  it('provision a Prometheus datasource and the dashboards folder', () => {
    const ds = parse(readFileSync(path.join(repo, 'grafana', 'provisioning', 'datasources', 'idleprobe.yml'), 'utf8'));
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources[0].type).toBe('prometheus');
    const providers = parse(readFileSync(path.join(repo, 'grafana', 'provisioning', 'dashboards', 'idleprobe.yml'), 'utf8'));
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers[0].type).toBe('file');
    // deploy/compose mounts grafana/dashboards at exactly this path.
    const compose = readFileSync(path.join(repo, 'deploy', 'compose', 'compose.yaml'), 'utf8');
    expect(compose).toContain(`../../grafana/dashboards:${providers.providers[0].options.path}:ro`);
  });
});

describe('dashboards against a real `idleprobe serve` run (demo lab)', () => {
  let daemon: DemoDaemon | null = null;
  let exposition = '';

  beforeAll(async () => {
    daemon = await startDemoDaemon({ timeoutSeconds: 3, withMaskedTarget: true, heartbeatMatrix: true });
    // Wait until both targets have a finished measurement (estimate; the masked one) and `demo` its matrix.
    exposition = await daemon.waitForMetrics(
      (t) =>
        /^idleprobe_idle_timeout_seconds\{target="demo",/m.test(t) &&
        /^idleprobe_server_heartbeat_seconds\{target="demo-masked"/m.test(t) &&
        /^idleprobe_heartbeat_survived\{target="demo",/m.test(t),
      90_000,
    );
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
  }, 30_000);

  it('every metric a dashboard reads is in the exposition', () => {
    const exported = exposedMetricNames(exposition);
    const missing: string[] = [];
    for (const d of dashboards) {
      for (const { panel, expr } of exprs(d.json)) {
        for (const name of metricNamesIn(expr)) {
          // Exported only with `passive:` (a live capture, root): test/lab/passive-serve.lab.test.ts checks these against a real scrape.
          if (name.startsWith('idleprobe_passive_')) continue;
          if (!exported.has(name)) missing.push(`${d.file} / ${panel}: ${name}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('the heartbeat matrix metrics have samples per interval (not just HELP/TYPE lines)', () => {
    for (const name of HEARTBEAT_MATRIX_METRICS) {
      const intervals = [...exposition.matchAll(new RegExp(`^${name}\\{target="demo",interval="([^"]+)"\\} `, 'gm'))].map((m) => m[1]).sort();
      expect(intervals, name).toEqual(['1', '5', 'none', 'tcp:1']);
    }
    // A 1 s heartbeat keeps the flow alive through a 3 s middlebox for the whole 6 s window.
    expect(exposition).toMatch(/^idleprobe_heartbeat_survived\{target="demo",interval="1"\} 1$/m);
    expect(exposition).toMatch(/^idleprobe_heartbeat_survived_seconds\{target="demo",interval="1"\} 6$/m);
    // Kernel keepalives every 1 s do not: the userspace middlebox's kernel answers them and its idle timer
    // never sees them (as a proxy's), while SSH heartbeats every 1 s survived — so the path is "no".
    expect(exposition).toMatch(/^idleprobe_heartbeat_survived\{target="demo",interval="tcp:1"\} 0$/m);
    expect(exposition).toMatch(new RegExp(`^${METRIC.tcpKeepaliveRefreshesPath}\\{target="demo"\\} 0$`, 'm'));
    // The target without tcp: rows has no verdict: absent, not 0.
    expect(exposition).not.toContain(`${METRIC.tcpKeepaliveRefreshesPath}{target="demo-masked"}`);
    // Every failure mode is a series, closed (a proxy) included: the failure-mode panels' `or` fallback is for older agents only.
    expect(exposition).toMatch(/^idleprobe_failure_mode\{target="demo",direction="outbound",mode="closed"\} 0$/m);
  });

  it('the target variable resolves to the configured targets', () => {
    const exported = exposedMetricNames(exposition);
    for (const d of dashboards) {
      for (const v of d.json.templating.list.filter((v) => v.type === 'query')) {
        const lv = labelValuesMetric(variableQuery(v));
        expect(lv, v.name).not.toBeNull();
        if (lv!.metric?.startsWith('idleprobe_passive_')) continue; // see above: checked by the passive lab test
        expect(exported.has(lv!.metric!), `${v.name}: ${lv!.metric}`).toBe(true);
      }
    }
    // label_values(idleprobe_measurements_total, target) over this exposition:
    const targets = [...exposition.matchAll(/^idleprobe_measurements_total\{[^}]*target="([^"]+)"/gm)].map((m) => m[1]);
    expect(targets.sort()).toEqual(['demo', 'demo-masked']);
  });
});
