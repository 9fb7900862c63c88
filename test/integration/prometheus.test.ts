// End to end with a real Prometheus (Debian package `prometheus`): it scrapes a running `idleprobe serve`
// that measures the in-process demo lab and runs a short heartbeat survival matrix on it, loads the
// shipped rules, and its HTTP API shows the timeout and heartbeat series arriving (with the `site` label
// from the scrape config), the recording rules evaluating, every rule healthy, and every dashboard query
// valid and returning data. That each alert fires is shown by the promtool rule tests.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, startDemoDaemon, type DemoDaemon } from '../../grafana/tools/demo-daemon.ts';
import { metricNamesIn } from '../../grafana/tools/promql-names.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const LAB_TIMEOUT_SECONDS = 3;
const SITE = 'ci-site';

const havePrometheus = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).status === 0;
if (!havePrometheus && process.env.IDLEPROBE_REQUIRE_LAB === '1') {
  throw new Error('prometheus not found (Debian package "prometheus") and IDLEPROBE_REQUIRE_LAB=1');
}

interface Sample { metric: Record<string, string>; value: [number, string] }
interface RuleState { name: string; type: 'recording' | 'alerting'; health: string; lastError?: string }

describe.skipIf(!havePrometheus)('real Prometheus scraping idleprobe (skipped: prometheus not installed — Debian package "prometheus")', () => {
  let daemon: DemoDaemon | null = null;
  let prometheus: ChildProcess | null = null;
  let promLog = '';
  let promUrl = '';
  const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-prom-e2e-'));

  async function api<T>(pathAndQuery: string): Promise<T> {
    const res = await fetch(`${promUrl}${pathAndQuery}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error ?? res.status}`);
    return body.data;
  }
  const query = async (expr: string) => (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;

  /** Polls until `check` returns a value (not undefined), bounded in time and count. */
  async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown = null;
    for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (err) {
        lastErr = err;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${what}: not after ${timeoutMs} ms (${String(lastErr)})\nprometheus log:\n${promLog.slice(-3000)}\nidleprobe log:\n${daemon?.log().slice(-3000)}`);
  }

  beforeAll(async () => {
    // The matrix (intervals 1 and 5 s, a 6 s window) runs on `demo` right after its first measurement: ~10 s more.
    daemon = await startDemoDaemon({ timeoutSeconds: LAB_TIMEOUT_SECONDS, withMaskedTarget: true, heartbeatMatrix: true });
    const scrapeTarget = new URL(daemon.url).host;

    // The shipped rules, unchanged except the group interval (1m → 1s) so the test need not wait minutes.
    const rules = parse(readFileSync(path.join(repo, 'deploy', 'prometheus', 'idleprobe-rules.yml'), 'utf8')) as { groups: { interval?: string }[] };
    for (const g of rules.groups) g.interval = '1s';
    writeFileSync(path.join(dir, 'rules.yml'), stringify(rules));
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [path.join(dir, 'rules.yml')],
        scrape_configs: [{ job_name: 'idleprobe', static_configs: [{ targets: [scrapeTarget], labels: { site: SITE } }] }],
      }),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (b: Buffer) => {
      promLog = (promLog + b.toString()).slice(-20000);
    });
    await eventually('prometheus ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 30_000);
  }, 90_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise<void>((r) => prometheus!.once('exit', () => r()));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('the scrape target is up and carries the site label from the scrape config', async () => {
    const up = await eventually('up == 1', async () => {
      const r = await query(`up{job="idleprobe"}`);
      return r.length === 1 && r[0].value[1] === '1' ? r[0] : undefined;
    }, 30_000);
    expect(up.metric.site).toBe(SITE);
  }, 40_000);

  it('the measured idle timeout arrives in Prometheus, per direction, bracketing the lab timeout', async () => {
    // The measurement of the 3 s demo middlebox takes ~20 s; allow for a loaded CI machine and retries.
    const series = await eventually('idleprobe_idle_timeout_seconds', async () => {
      await daemon!.waitForMetrics((t) => /^idleprobe_idle_timeout_seconds\{target="demo",/m.test(t), 5_000).catch(() => undefined);
      const r = await query(`idleprobe_idle_timeout_seconds{job="idleprobe", target="demo"}`);
      return r.length === 2 ? r : undefined;
    }, 100_000);
    for (const s of series) {
      expect(s.metric.site).toBe(SITE);
      const estimate = Number(s.value[1]);
      expect(estimate, `${s.metric.direction} estimate`).toBeGreaterThan(LAB_TIMEOUT_SECONDS - 1);
      expect(estimate, `${s.metric.direction} estimate`).toBeLessThan(LAB_TIMEOUT_SECONDS + 2);
    }
    expect(series.map((s) => s.metric.direction).sort()).toEqual(['inbound', 'outbound']);
    const lower = await query(`idleprobe_idle_timeout_lower_bound_seconds{target="demo"}`);
    const upper = await query(`idleprobe_idle_timeout_upper_bound_seconds{target="demo"}`);
    for (const l of lower) {
      const u = upper.find((x) => x.metric.direction === l.metric.direction)!;
      expect(Number(l.value[1])).toBeLessThan(Number(u.value[1]));
    }
  }, 120_000);

  it('the recording rules evaluate over the scraped series', async () => {
    const found = await eventually('idleprobe:idle_timeout_seconds:found', async () => {
      const r = await query(`idleprobe:idle_timeout_seconds:found{target="demo"}`);
      return r.length === 2 ? r : undefined;
    }, 30_000);
    expect(found.every((s) => s.metric.site === SITE && s.metric.job === 'idleprobe')).toBe(true);
    // The masked target has no found timeout: the verdict gate keeps it out.
    expect(await query(`idleprobe:idle_timeout_seconds:found{target="demo-masked"}`)).toEqual([]);

    const min = await eventually('path min', async () => {
      const r = await query(`idleprobe:path_idle_timeout_seconds:min{target="demo"}`);
      return r.length === 1 ? r[0] : undefined;
    }, 30_000);
    expect(Number(min.value[1])).toBe(Math.min(...found.map((s) => Number(s.value[1]))));
    expect(min.metric.direction).toBeUndefined();

    for (const record of ['idleprobe:idle_timeout_seconds:max7d', 'idleprobe:idle_timeout_seconds:avg1d', 'idleprobe:last_measurement_age_seconds:current', 'idleprobe:recommended_heartbeat_seconds:max30d']) {
      const r = await eventually(record, async () => {
        const got = await query(`${record}{target="demo"}`);
        return got.length > 0 ? got : undefined;
      }, 30_000);
      for (const s of r) expect(Number.isFinite(Number(s.value[1])), `${record} = ${s.value[1]}`).toBe(true);
    }
    // The rule is exactly "evaluation time − when the latest measurement finished": evaluation time
    // (the recorded sample's timestamp) minus the recorded age gives back the exported finish time.
    await eventually('age = evaluation time − finish time', async () => {
      const r = await query(`(timestamp(idleprobe:last_measurement_age_seconds:current{target="demo"}) - idleprobe:last_measurement_age_seconds:current{target="demo"}) - idleprobe_last_measurement_timestamp_seconds{target="demo"}`);
      return r.length === 1 && Math.abs(Number(r[0].value[1])) < 0.002 ? r : undefined;
    }, 30_000);
    const age = await query(`idleprobe:last_measurement_age_seconds:current{target="demo"}`);
    // Evaluated after the measurement finished, during this test.
    expect(Number(age[0].value[1])).toBeGreaterThan(0);
    expect(Number(age[0].value[1])).toBeLessThan(300);
  }, 120_000);

  it('the heartbeat survival matrix arrives in Prometheus: a 1 s heartbeat survives the 3 s middlebox, 5 s, tcp:1 and none die; kernel keepalives do not help (0)', async () => {
    const byInterval = async (metric: string) => Object.fromEntries((await query(`${metric}{job="idleprobe", target="demo"}`)).map((s) => [s.metric.interval, s]));
    const survived = await eventually('idleprobe_heartbeat_survived', async () => {
      const r = await byInterval('idleprobe_heartbeat_survived');
      return Object.keys(r).length === 4 ? r : undefined;
    }, 90_000);
    expect(Object.keys(survived).sort()).toEqual(['1', '5', 'none', 'tcp:1']);
    for (const s of Object.values(survived)) expect(s.metric.site).toBe(SITE);
    expect(survived['1'].value[1]).toBe('1');
    expect(survived['5'].value[1]).toBe('0');
    expect(survived['none'].value[1]).toBe('0');
    // The tcp:1 row: kernel keepalives every second, answered by the userspace middlebox's own kernel (as a proxy's).
    expect(survived['tcp:1'].value[1]).toBe('0');
    const tcpRows = await query('idleprobe_heartbeat_survived{job="idleprobe", target="demo", interval=~"tcp:.+"}');
    expect(tcpRows.map((s) => s.metric.interval)).toEqual(['tcp:1']);
    const refreshes = await query('idleprobe_tcp_keepalive_refreshes_path{job="idleprobe"}');
    expect(refreshes.map((s) => [s.metric.target, s.metric.site, s.value[1]])).toEqual([['demo', SITE, '0']]);
    // Scraped at the same time, so already there: how long each session lived, and its unanswered heartbeats.
    const seconds = await byInterval('idleprobe_heartbeat_survived_seconds');
    expect(Number(seconds['1'].value[1])).toBe(6); // the whole window
    expect(Number(seconds['none'].value[1])).toBeLessThan(6);
    const unanswered = await byInterval('idleprobe_heartbeat_unanswered');
    expect(Object.keys(unanswered).sort()).toEqual(['1', '5', 'none', 'tcp:1']);
    // Only the target with a `heartbeat:` setting has the series.
    expect(await query(`idleprobe_heartbeat_survived{target="demo-masked"}`)).toEqual([]);
  }, 100_000);

  it('every shipped rule is loaded and evaluates without error', async () => {
    const shipped = parse(readFileSync(path.join(repo, 'deploy', 'prometheus', 'idleprobe-rules.yml'), 'utf8')) as { groups: { rules: { record?: string; alert?: string }[] }[] };
    const names = shipped.groups.flatMap((g) => g.rules.map((r) => r.record ?? r.alert));
    const groups = await eventually('rules evaluated', async () => {
      const data = await api<{ groups: { rules: (RuleState & { lastEvaluation: string })[] }[] }>('/api/v1/rules');
      const all = data.groups.flatMap((g) => g.rules);
      return all.every((r) => !r.lastEvaluation.startsWith('0001')) ? all : undefined;
    }, 30_000);
    expect(groups.map((r) => r.name).sort()).toEqual([...names].sort());
    for (const r of groups) expect({ name: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ name: r.name, health: 'ok', lastError: '' });
    // Nothing is wrong with a fresh, healthy demo target: no warning or critical alert fires.
    const alerts = await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
    const serious = alerts.alerts.filter((a) => a.labels.severity !== 'info');
    expect(serious).toEqual([]);
  }, 60_000);

  it('the dashboard variables resolve and every dashboard query is valid PromQL that Prometheus runs', async () => {
    const targets = await api<string[]>(`/api/v1/label/target/values?match[]=${encodeURIComponent('idleprobe_measurements_total{site=~".*"}')}`);
    expect(targets.sort()).toEqual(['demo', 'demo-masked']);
    const sites = await api<string[]>(`/api/v1/label/site/values?match[]=idleprobe_measurements_total`);
    expect(sites).toEqual([SITE]);

    // The heartbeat panels need the matrix (normally already there from the test above).
    await eventually('heartbeat matrix series', async () => ((await query('idleprobe_heartbeat_survived')).length > 0 ? true : undefined), 90_000);
    const empty: string[] = [];
    let heartbeatQueries = 0;
    let middleboxQueries = 0;
    let passiveQueries = 0;
    let tcpKeepaliveQueries = 0;
    for (const file of readdirSync(path.join(repo, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json'))) {
      const dashboard = JSON.parse(readFileSync(path.join(repo, 'grafana', 'dashboards', file), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) {
          // What Grafana sends for each target, all sites, a 1-minute interval. Some series exist only for
          // one kind of result (server heartbeat: the masked target; the heartbeat matrix: `demo`), so one
          // target with data suffices.
          let rows = 0;
          for (const target of ['demo', 'demo-masked']) {
            const expr = t.expr
              .replaceAll('$target', target)
              .replaceAll('$site', '.*')
              .replaceAll('$server', '.*')
              .replaceAll('$__range', '1h')
              .replaceAll('$__rate_interval', '1m')
              .replaceAll('$__interval', '1m');
            rows += (await query(expr)).length; // throws on a PromQL error (syntax, many-to-many matching…)
          }
          if (metricNamesIn(t.expr).some((n) => n.startsWith('idleprobe_heartbeat_'))) heartbeatQueries++;
          if (t.expr.includes('tcp:.+') || metricNamesIn(t.expr).includes('idleprobe_tcp_keepalive_refreshes_path')) tcpKeepaliveQueries++;
          // The demo path is a userspace relay, not IP hops: locate finds no box there, so the
          // middlebox panels run (valid PromQL) but stay empty; their data is checked against a
          // real router chain in test/lab/locate-serve.lab.test.ts.
          if (metricNamesIn(t.expr).some((n) => n.startsWith('idleprobe_middlebox_'))) {
            middleboxQueries++;
            continue;
          }
          // The demo daemon has no `passive:` (a live capture needs root): these panels run (valid
          // PromQL) but stay empty; their metrics are checked against a real scrape in
          // test/lab/passive-serve.lab.test.ts.
          if (metricNamesIn(t.expr).some((n) => n.startsWith('idleprobe_passive_'))) {
            passiveQueries++;
            continue;
          }
          if (rows === 0) empty.push(`${file} / ${panel.title}: ${t.expr}`);
        }
      }
    }
    // Every panel shows data for a measured target, the heartbeat survival panels included.
    expect(empty).toEqual([]);
    expect(heartbeatQueries).toBeGreaterThan(0);
    // The tcp:N rows and the kernel-keepalive verdict (overview matrix and table, target stat and lines), with data.
    expect(tcpKeepaliveQueries).toBeGreaterThanOrEqual(5);
    expect(middleboxQueries).toBeGreaterThan(0);
    expect(passiveQueries).toBeGreaterThan(0);
  }, 120_000);
});
