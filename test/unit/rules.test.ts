// The shipped Prometheus rules: promtool accepts them, their unit tests pass (each alert fires on one series
// and stays quiet on another), they follow monitoring-mixin conventions, and they only read metrics that
// the exporter defines.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { metricNamesIn } from '../../grafana/tools/promql-names.ts';
import { DASHBOARDS } from '../../grafana/tools/dashboards.ts';
import { MEASUREMENT_STALE_HOURS } from '../../deploy/prometheus/policy.ts';
import { renderRules } from '../../deploy/prometheus/generate-rules.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');
const rulesFile = path.join(repo, 'deploy', 'prometheus', 'idleprobe-rules.yml');
// The promtool cases: the long-horizon alerts (windows of a day or more) in a file of their own,
// evaluated every 5 minutes instead of every minute (see its header: ~30 s of promtool CPU → ~6 s).
const rulesTestFiles = ['idleprobe-rules.test.yml', 'idleprobe-rules.long.test.yml'].map((f) => path.join(repo, 'deploy', 'prometheus', f));

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile { groups: { name: string; rules: Rule[] }[] }
interface AlertTest { alertname: string; eval_time: string; exp_alerts?: { exp_labels: Record<string, string> }[] }
interface TestGroup { name: string; input_series: { series: string; values: string }[]; alert_rule_test?: AlertTest[] }

const rules = parse(readFileSync(rulesFile, 'utf8')) as RuleFile;
const allRules = rules.groups.flatMap((g) => g.rules);
const alerts = allRules.filter((r) => r.alert !== undefined);
const records = allRules.filter((r) => r.record !== undefined);
const ruleTests = rulesTestFiles.flatMap((f) => (parse(readFileSync(f, 'utf8')) as { tests: TestGroup[] }).tests);

function promtoolAvailable(): boolean {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.status === 0;
}
const havePromtool = promtoolAvailable();
if (!havePromtool && process.env.IDLEPROBE_REQUIRE_LAB === '1') {
  // CI installs the Debian package `prometheus`; a missing promtool there is a broken setup, not a skip.
  throw new Error('promtool not found (Debian package "prometheus") and IDLEPROBE_REQUIRE_LAB=1');
}

function promtool(args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: path.dirname(rulesFile), encoding: 'utf8', timeout: 120_000 });
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

describe.skipIf(!havePromtool)('promtool (skipped: promtool not installed — Debian package "prometheus")', () => {
  it('promtool check rules accepts the rules file', () => {
    const { status, output } = promtool(['check', 'rules', rulesFile]);
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  it('promtool test rules passes every firing and non-firing case', () => {
    const { status, output } = promtool(['test', 'rules', ...rulesTestFiles]);
    expect(status, output).toBe(0);
    // One SUCCESS per file (a file that failed says FAILED instead).
    expect(output.match(/SUCCESS/g)?.length, output).toBe(rulesTestFiles.length);
  }, 120_000);
});

describe('rule conventions (monitoring-mixin style)', () => {
  it('has alerts and recording rules', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    expect(records.length).toBeGreaterThanOrEqual(5);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s: CamelCase with one prefix, severity, summary and description', (_name, alert) => {
    expect(alert.alert).toMatch(/^Idleprobe[A-Z][A-Za-z0-9]+$/);
    expect(['critical', 'warning', 'info']).toContain(alert.labels?.severity);
    expect(alert.annotations?.summary?.trim().length ?? 0).toBeGreaterThan(10);
    expect(alert.annotations?.description?.trim().length ?? 0).toBeGreaterThan(20);
    // Summaries are static (they group well in Alertmanager); details belong in the description.
    expect(alert.annotations?.summary).not.toContain('{{');
  });

  it('recording rules are named level:metric:operation', () => {
    for (const r of records) expect(r.record).toMatch(/^idleprobe:[a-z0-9_]+:[a-z0-9_]+$/);
  });

  it('the alerts the issue asks for exist', () => {
    const names = alerts.map((a) => a.alert);
    for (const wanted of [
      'IdleprobeTimeoutShrank', // below a fraction of the 7-day max
      'IdleprobeTimeoutBelowHeartbeat', // below the heartbeat in use
      'IdleprobeTimeoutTrendBelowHeartbeat', // trend below it
      'IdleprobeSentinelDied',
      'IdleprobeEnforcingHopChanged', // issue 14: another hop enforces the timeout
      'IdleprobePassiveSessionsDyingIdle', // issue 15: "sessions dying idle on SERVER"
      'IdleprobePassiveCaptureDown',
      'IdleprobeMeasurementStale',
      'IdleprobeMeasurementsFailing',
      'IdleprobeTargetUnreachable',
      'IdleprobeConfigReloadFailed',
      'IdleprobeDown',
    ]) expect(names).toContain(wanted);
  });

  it('every expression reads only exported metrics or recording rules defined here', () => {
    // `up` is written by Prometheus itself for every scrape.
    // A histogram is read through its _bucket/_sum/_count series.
    const histograms = [METRIC.passiveDeathAge].flatMap((h) => ['_bucket', '_sum', '_count'].map((x) => `${h}${x}`));
    const known = new Set<string>([...Object.values(METRIC), ...histograms, ...records.map((r) => r.record!), 'up']);
    for (const rule of allRules) {
      for (const name of metricNamesIn(rule.expr)) {
        expect(known.has(name), `${rule.alert ?? rule.record}: unknown metric ${name}`).toBe(true);
      }
    }
  });

  it('rules only use recording rules defined above them in the same group (evaluated in order, no race)', () => {
    for (const group of rules.groups) {
      const seen = new Set<string>();
      for (const rule of group.rules) {
        for (const name of metricNamesIn(rule.expr).filter((n) => n.includes(':'))) {
          expect(seen.has(name), `${rule.alert ?? rule.record} uses ${name} before it is recorded in ${group.name}`).toBe(true);
        }
        if (rule.record) seen.add(rule.record);
      }
    }
  });
});

describe('promtool test cases cover every alert', () => {
  const seriesIdentity = (series: string): string => {
    const target = /target="([^"]*)"/.exec(series)?.[1] ?? '';
    const instance = /instance="([^"]*)"/.exec(series)?.[1] ?? '';
    // Passive series are per server endpoint instead of per target.
    const server = /server="([^"]*)"/.exec(series)?.[1] ?? '';
    return `${instance}/${target}${server}`;
  };

  it.each(alerts.map((a) => [a.alert!] as const))('%s: a case where it fires and a series where it must not', (name) => {
    const groups = ruleTests.filter((t) => (t.alert_rule_test ?? []).some((a) => a.alertname === name));
    expect(groups.length, `no promtool test for ${name}`).toBeGreaterThan(0);
    const cases = groups.flatMap((g) => g.alert_rule_test!.filter((a) => a.alertname === name));
    expect(cases.some((c) => (c.exp_alerts ?? []).length > 0), `${name} never expected to fire`).toBe(true);
    expect(cases.some((c) => (c.exp_alerts ?? []).length === 0), `${name} never expected to stay quiet`).toBe(true);
    // At the times it fires, some input series of the same test group must not be among the alerts.
    for (const g of groups) {
      const inputs = new Set(g.input_series.map((s) => seriesIdentity(s.series)));
      const fired = new Set(
        g.alert_rule_test!
          .filter((a) => a.alertname === name)
          .flatMap((a) => a.exp_alerts ?? [])
          .map((e) => `${e.exp_labels.instance ?? ''}/${e.exp_labels.target ?? ''}${e.exp_labels.server ?? ''}`),
      );
      const quiet = [...inputs].filter((i) => !fired.has(i));
      expect(quiet.length, `${g.name}: every input series fires ${name}; add one that must not`).toBeGreaterThan(0);
    }
  });
});

describe('thresholds shared with the dashboards (deploy/prometheus/policy.ts)', () => {
  it('the rules file is what the generator writes today (npm run generate:deploy)', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'deploy', 'prometheus', 'generate-rules.ts'), '--check'], { encoding: 'utf8', cwd: repo, timeout: 60_000 });
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
  });

  it('IdleprobeMeasurementStale and the dashboards\' red age are the one constant, MEASUREMENT_STALE_HOURS', () => {
    const stale = alerts.find((a) => a.alert === 'IdleprobeMeasurementStale');
    expect(stale?.expr).toBe(`idleprobe:last_measurement_age_seconds:current > ${MEASUREMENT_STALE_HOURS} * 3600`);
    const reds = DASHBOARDS.flatMap((d) => JSON.stringify(d.build()).match(/\{"color":"red","value":\d+\}/g) ?? []);
    expect(reds).toContain(`{"color":"red","value":${MEASUREMENT_STALE_HOURS * 3600}}`);
  });

  it('the generator rewrites a threshold that differs from the policy, and refuses a file without the marked line', () => {
    const text = readFileSync(rulesFile, 'utf8');
    const drifted = text.replace(`current > ${MEASUREMENT_STALE_HOURS} * 3600`, 'current > 99 * 3600');
    expect(drifted).not.toBe(text);
    expect(renderRules(drifted)).toBe(text);
    expect(() => renderRules(text.replace(/^ *expr: idleprobe:last_measurement_age_seconds:current.*$/m, ''))).toThrow(/expected one line for the IdleprobeMeasurementStale threshold/);
  });
});
