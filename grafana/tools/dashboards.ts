// The two idleprobe dashboards, as code: the overview of every target and the per-target drill-down.
// `node --import tsx grafana/tools/build-dashboards.ts` writes them to grafana/dashboards/*.json (what Grafana
// provisions); test/unit/grafana.test.ts checks the committed JSON equals this output.
import {
  bandOverrides,
  layout,
  row,
  stat,
  stateTimeline,
  table,
  timeseries,
  valueMap,
  type Panel,
} from './panels.ts';
import { MEASUREMENT_STALE_HOURS } from '../../deploy/prometheus/policy.ts';
import { PASSIVE_IDLE_DEATH_ENDS } from '../../src/capture/passive-counters.ts';

export const OVERVIEW_UID = 'idleprobe-overview';
export const TARGET_UID = 'idleprobe-target';

// Every series of a target is picked with these matchers; `site` is set by the scrape config of
// multi-site agents and absent otherwise (site=~".*" also matches a missing label).
const SEL_ALL = 'target=~"$target", site=~"$site"';
const SEL_ONE = 'target="$target", site=~"$site"';
// Passive monitoring (`passive:`) series carry `server` (a configured endpoint or "other"), not `target`.
const SEL_PASSIVE = 'server=~"$server", site=~"$site"';
const DIED = `end=~"${PASSIVE_IDLE_DEATH_ENDS.join('|')}"`;

// Only a `timeout` verdict makes the estimate a path timeout (masked/no timeout results are not).
const found = (sel: string) =>
  `idleprobe_idle_timeout_seconds{${sel}} and ignoring(verdict) (idleprobe_verdict{${sel}, verdict="timeout"} == 1)`;

// 1 = silent drop, 2 = reset, 3 = no timeout found, 4 = closed by the path (a proxy); 0 = not measured
// yet. `max`, not `sum`: the same target scraped twice (two jobs, an HA pair) must not add up to
// another state's code. Agents from before `closed` existed export no such series: `or … * 0` keeps
// the sum from going empty for them (a missing operand would blank the whole expression).
const failureModeCode = (sel: string, by: string) =>
  `max by (${by}) (idleprobe_failure_mode{${sel}, mode="silent"})` +
  ` + 2 * max by (${by}) (idleprobe_failure_mode{${sel}, mode="reset"})` +
  ` + 3 * max by (${by}) (idleprobe_failure_mode{${sel}, mode="none"})` +
  ` + 4 * (max by (${by}) (idleprobe_failure_mode{${sel}, mode="closed"}) or 0 * max by (${by}) (idleprobe_failure_mode{${sel}, mode="none"}))`;
const FAILURE_MODE_MAP = valueMap({
  '0': { text: 'not measured', color: 'text' },
  '1': { text: 'silent drop', color: 'red' },
  '2': { text: 'reset', color: 'orange' },
  '3': { text: 'no timeout found', color: 'green' },
  '4': { text: 'closed by a proxy', color: 'purple' },
});
const FAILURE_MODES_IN_WORDS =
  'silent drop (black hole: the client only notices after its heartbeats go unanswered), reset (RST: the session dies at the next packet) or closed (the path closes idle connections itself, FIN or RST: a proxy load balancer — kernel TCP keepalives do not help there, only SSH heartbeats do)';

// Survival-matrix rows: `interval` is the SSH heartbeat interval (or `none`), `tcp:N` the row with
// kernel TCP keepalives every N s (docs/daemon.md says why a label value and not a `kind` label).
const SSH_ROWS = 'interval!~"tcp:.+"';
const TCP_ROWS = 'interval=~"tcp:.+"';

// Do kernel TCP keepalives keep the path alive: 1 yes, 0 no, -1 unknown (no matrix with tcp: rows told yet).
// Every measured target gets a row: the unknown ones from idleprobe_measurements_total, which they all have.
const tcpKeepaliveCode = (sel: string, by: string) =>
  `max by (${by}) (idleprobe_tcp_keepalive_refreshes_path{${sel}}) or (0 * max by (${by}) (idleprobe_measurements_total{${sel}}) - 1)`;
const TCP_KEEPALIVE_MAP = valueMap({
  '-1': { text: 'unknown (add tcp:N rows)', color: 'text' },
  '0': { text: 'no: only SSH heartbeats help', color: 'orange' },
  '1': { text: 'yes: NAT/firewall counts them', color: 'green' },
});

// 1 timeout, 2 no_timeout_up_to_max, 3 masked, 4 inconclusive; 0 = not measured yet.
const verdictCode = (sel: string, by: string) =>
  ['timeout', 'no_timeout_up_to_max', 'masked', 'inconclusive']
    .map((v, i) => `${i + 1} * max by (${by}) (idleprobe_verdict{${sel}, verdict="${v}"})`)
    .join(' + ');
const VERDICT_MAP = valueMap({
  '0': { text: 'not measured', color: 'text' },
  '1': { text: 'timeout found', color: 'blue' },
  '2': { text: 'no timeout up to max', color: 'green' },
  '3': { text: 'masked by server heartbeat', color: 'purple' },
  '4': { text: 'inconclusive', color: 'orange' },
});

const UP_MAP = valueMap({ '0': { text: 'unreachable', color: 'red' }, '1': { text: 'reachable', color: 'green' } });
const SURVIVED_MAP = valueMap({ '0': { text: 'died', color: 'red' }, '1': { text: 'survived', color: 'green' } });

const TIMEOUT_THRESHOLDS = [
  { color: 'red', value: null },
  { color: 'orange', value: 60 },
  { color: 'green', value: 300 },
];
const AGE_THRESHOLDS = [
  { color: 'green', value: null },
  // The default schedule measures every 6 h: orange once a run was missed; red when IdleprobeMeasurementStale fires.
  { color: 'orange', value: 7 * 3600 },
  { color: 'red', value: MEASUREMENT_STALE_HOURS * 3600 },
];

function drillDownLink(field: string) {
  return [
    {
      matcher: { id: 'byName', options: field },
      properties: [
        {
          id: 'links',
          value: [{ title: 'Drill down to ${__value.text}', url: `/d/${TARGET_UID}/idleprobe-target?var-target=\${__value.text}&\${datasource:queryparam}&\${__url_time_range}` }],
        },
      ],
    },
  ];
}

function variables(opts: { multiTarget: boolean }) {
  return {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: {},
        hide: 0,
        refresh: 1,
        regex: '',
        options: [],
      },
      labelVariable('site', 'Site', 'label_values(idleprobe_measurements_total, site)', true),
      labelVariable('target', 'Target', 'label_values(idleprobe_measurements_total{site=~"$site"}, target)', opts.multiTarget),
      ...(opts.multiTarget ? [labelVariable('server', 'Server (passive)', 'label_values(idleprobe_passive_connections_total{site=~"$site"}, server)', true)] : []),
    ],
  };
}

/** A template variable over a Prometheus label's values; `all`: several at once, All selected by default. */
function labelVariable(name: string, label: string, definition: string, all: boolean) {
  return {
    name,
    label,
    type: 'query',
    datasource: { type: 'prometheus', uid: '${datasource}' },
    definition,
    query: { qryType: 1, query: definition, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    includeAll: all,
    ...(all ? { allValue: '.*' } : {}),
    multi: all,
    current: all ? { selected: true, text: ['All'], value: ['$__all'] } : {},
    refresh: 2,
    sort: 1,
    hide: 0,
    regex: '',
    options: [],
  };
}

function dashboard(uid: string, title: string, description: string, panels: Panel[], multiTarget: boolean, linkTo: { uid: string; title: string }) {
  return {
    uid,
    title,
    description,
    tags: ['idleprobe', 'ssh', 'network'],
    editable: true,
    graphTooltip: 1,
    refresh: '1m',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    timezone: '',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      { title: linkTo.title, type: 'link', url: `/d/${linkTo.uid}`, includeVars: true, keepTime: true, icon: 'dashboard', tags: [], asDropdown: false, targetBlank: false, tooltip: '' },
    ],
    templating: variables({ multiTarget }),
    panels: layout(panels),
  };
}

export function overviewDashboard() {
  const panels: Panel[] = [
    row('Now'),
    stat('Targets', 'Configured targets the agents report.', { w: 4, h: 4 }, [{ expr: `count(count by (target) (idleprobe_measurements_total{${SEL_ALL}}))` }], { unit: 'none' }),
    stat('Unreachable targets', 'Targets whose latest connect + authentication failed (idleprobe_target_up == 0).', { w: 4, h: 4 }, [{ expr: `count(idleprobe_target_up{${SEL_ALL}} == 0) or vector(0)` }], {
      unit: 'none',
      thresholds: [{ color: 'green', value: null }, { color: 'red', value: 1 }],
    }),
    stat('Shortest idle timeout', 'The shortest path idle timeout found over all selected targets and directions: heartbeats must be shorter than this.', { w: 4, h: 4 }, [{ expr: `min(${found(SEL_ALL)})` }], {
      thresholds: TIMEOUT_THRESHOLDS,
    }),
    stat('Oldest result', 'Age of the oldest latest measurement over the selected targets.', { w: 4, h: 4 }, [{ expr: `max(time() - (idleprobe_last_measurement_timestamp_seconds{${SEL_ALL}} > 0))` }], {
      thresholds: AGE_THRESHOLDS,
    }),
    stat('Sentinel deaths (24h)', 'Sentinel sessions idling at ~90% of the estimate that died in the last 24 hours: each one means the timeout shrank.', { w: 4, h: 4 }, [{ expr: `sum(increase(idleprobe_sentinel_deaths_total{${SEL_ALL}}[24h]))` }], {
      unit: 'none',
      decimals: 0,
      thresholds: [{ color: 'green', value: null }, { color: 'orange', value: 1 }],
    }),
    stat('Config reload', 'Whether each agent\'s last configuration reload worked (0 = it kept the previous config).', { w: 4, h: 4 }, [{ expr: `min(idleprobe_config_last_reload_successful{site=~"$site"})` }], {
      unit: 'none',
      mappings: [valueMap({ '0': { text: 'failed', color: 'red' }, '1': { text: 'ok', color: 'green' } })],
    }),

    row('Idle timeout per target'),
    table(
      'Current idle timeouts',
      'Latest result per site, target and direction: the bracket (longest idle age that survived, shortest that failed], the point estimate, how the path fails (silent drop, reset, or closed by a proxy) and the verdict. Click a target to drill down.',
      { w: 24, h: 8 },
      [
        { expr: `max by (site, target, direction) (idleprobe_idle_timeout_lower_bound_seconds{${SEL_ALL}})` },
        { expr: `max by (site, target, direction) (idleprobe_idle_timeout_seconds{${SEL_ALL}})` },
        { expr: `max by (site, target, direction) (idleprobe_idle_timeout_upper_bound_seconds{${SEL_ALL}})` },
        { expr: `max by (site, target, direction, mode) (idleprobe_failure_mode{${SEL_ALL}} == 1)` },
        { expr: `max by (site, target, direction, verdict) (idleprobe_verdict{${SEL_ALL}} == 1)` },
      ],
      {
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true, 'Value #D': true, 'Value #E': true },
              indexByName: { site: 0, target: 1, direction: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5, mode: 6, verdict: 7 },
              renameByName: { site: 'Site', 'Value #A': 'Survived (lower)', 'Value #B': 'Estimate', 'Value #C': 'Failed (upper)', mode: 'Failure mode', verdict: 'Verdict' },
            },
          },
        ],
        unit: 's',
        overrides: drillDownLink('target'),
      },
    ),
    timeseries(
      'Idle timeout bracket: $target',
      'The band is the bracket: the path survived idle periods up to its lower edge and dropped them at its upper edge; the line is the estimate. The dashed line is the recommended heartbeat interval, which must stay below the band.',
      { w: 8, h: 8 },
      [
        { expr: `max by (direction) (idleprobe_idle_timeout_lower_bound_seconds{${SEL_ALL}})`, legend: '{{direction}} survived' },
        { expr: `max by (direction) (idleprobe_idle_timeout_upper_bound_seconds{${SEL_ALL}})`, legend: '{{direction}} failed' },
        { expr: `max by (direction) (idleprobe_idle_timeout_seconds{${SEL_ALL}})`, legend: '{{direction}} estimate' },
        { expr: `max(idleprobe_recommended_heartbeat_seconds{${SEL_ALL}})`, legend: 'recommended heartbeat' },
      ],
      {
        repeat: 'target',
        overrides: [
          ...bandOverrides([
            { lower: 'outbound survived', upper: 'outbound failed', color: 'blue' },
            { lower: 'inbound survived', upper: 'inbound failed', color: 'purple' },
          ]),
          { matcher: { id: 'byName', options: 'recommended heartbeat' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'color', value: { mode: 'fixed', fixedColor: 'green' } }] },
        ],
      },
    ),

    row('Middleboxes (locate)'),
    table(
      'Middleboxes: where idle connections are forgotten',
      'Targets with `locate: true`: each box found on the path, by hop (IP TTL), with its idle timeout bracket (longest idle age it kept, shortest it forgot] and estimate. The box at the lowest hop enforces the path timeout; a box nearer than it with a longer timeout cannot be seen from this side. GET /api/targets/<name>/locate has the addresses.',
      { w: 16, h: 8 },
      [
        { expr: `max by (site, target, hop) (idleprobe_middlebox_timeout_lower_bound_seconds{${SEL_ALL}})` },
        { expr: `max by (site, target, hop) (idleprobe_middlebox_timeout_seconds{${SEL_ALL}})` },
        { expr: `max by (site, target, hop) (idleprobe_middlebox_timeout_upper_bound_seconds{${SEL_ALL}})` },
      ],
      {
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              indexByName: { site: 0, target: 1, hop: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5 },
              renameByName: { site: 'Site', hop: 'Hop', 'Value #A': 'Kept (lower)', 'Value #B': 'Estimate', 'Value #C': 'Forgot (upper)' },
            },
          },
        ],
        unit: 's',
        overrides: drillDownLink('target'),
      },
    ),
    timeseries(
      'Hop enforcing the idle timeout',
      'The hop of the box that forgets idle connections first, per target. A step means another box now sets the path timeout (the IdleprobeEnforcingHopChanged alert).',
      { w: 8, h: 8 },
      [{ expr: `max by (site, target) (idleprobe_middlebox_hop{${SEL_ALL}})`, legend: '{{target}} {{site}}' }],
      { unit: 'none' },
    ),

    row('Trends'),
    timeseries(
      'Idle timeout, 30 days',
      'Estimated idle timeout per target and direction over 30 days (only results with a found timeout). A falling line means a middlebox on the path forgets idle connections sooner than before.',
      { w: 12, h: 9 },
      [{ expr: `max by (site, target, direction) (${found(SEL_ALL)})`, legend: '{{target}} {{direction}} {{site}}', interval: '1h' }],
      { timeFrom: '30d' },
    ),
    stateTimeline(
      'Failure mode',
      `How each path fails once idle too long: ${FAILURE_MODES_IN_WORDS}.`,
      { w: 12, h: 9 },
      [{ expr: failureModeCode(SEL_ALL, 'site, target, direction'), legend: '{{target}} {{direction}} {{site}}' }],
      [FAILURE_MODE_MAP],
    ),
    stat(
      'Time since last measurement',
      `Age of each target's latest finished measurement. Orange after 7 h (a run of the default 6-hourly schedule missed), red after ${MEASUREMENT_STALE_HOURS} h (the IdleprobeMeasurementStale alert).`,
      { w: 12, h: 6 },
      [{ expr: `max by (target) (time() - (idleprobe_last_measurement_timestamp_seconds{${SEL_ALL}} > 0))`, legend: '{{target}}' }],
      { thresholds: AGE_THRESHOLDS },
    ),
    timeseries(
      'Sentinel deaths',
      'Sentinel sessions idle at ~90% of the last estimate; a death means the timeout shrank and idleprobe re-measured at once.',
      { w: 12, h: 6 },
      [{ expr: `sum by (target) (increase(idleprobe_sentinel_deaths_total{${SEL_ALL}}[$__interval]))`, legend: '{{target}}', interval: '5m' }],
      { unit: 'none', bars: true },
    ),

    row('Heartbeat survival'),
    table(
      'Heartbeat survival matrix',
      'One row per target, one column per SSH heartbeat interval (seconds, like ServerAliveInterval; none = the session without heartbeat): did a session sending only heartbeats at that interval survive the window? The shortest interval that died bounds the timeout from above. Kernel TCP keepalive rows (tcp:N) are in the panel beside.',
      { w: 12, h: 8 },
      [{ expr: `max by (target, interval) (idleprobe_heartbeat_survived{${SEL_ALL}, ${SSH_ROWS}})` }],
      {
        transformations: [{ id: 'groupingToMatrix', options: { columnField: 'interval', rowField: 'target', valueField: 'Value', emptyValue: 'null' } }],
        mappings: [SURVIVED_MAP],
        overrides: [{ matcher: { id: 'byType', options: 'number' }, properties: [{ id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } }] }],
      },
    ),
    table(
      'Kernel TCP keepalive rows (tcp:N)',
      'Targets whose matrix has tcp:N rows: one column per row — a session that sends nothing at SSH level while its kernel sends TCP keepalives every N s (what TCPKeepAlive yes with net.ipv4.tcp_keepalive_time = N gives). Survived: the box on the path counts kernel keepalives (a NAT or stateful firewall); died while SSH heartbeats survived: it does not (a proxy load balancer).',
      { w: 12, h: 8 },
      [{ expr: `max by (target, interval) (idleprobe_heartbeat_survived{${SEL_ALL}, ${TCP_ROWS}})` }],
      {
        transformations: [{ id: 'groupingToMatrix', options: { columnField: 'interval', rowField: 'target', valueField: 'Value', emptyValue: 'null' } }],
        mappings: [SURVIVED_MAP],
        overrides: [{ matcher: { id: 'byType', options: 'number' }, properties: [{ id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } }] }],
      },
    ),
    table(
      'Does lowering tcp_keepalive_time help?',
      'Per target, from its latest survival matrix with tcp:N rows (idleprobe_tcp_keepalive_refreshes_path): yes — kernel TCP keepalives keep the path alive (TCPKeepAlive with net.ipv4.tcp_keepalive_time below the timeout, on the host that owns the socket, works); no — the path only counts bytes inside the connection (a proxy): only ServerAliveInterval / ClientAliveInterval help; unknown — no matrix with tcp:N rows has told yet.',
      { w: 12, h: 8 },
      [{ expr: tcpKeepaliveCode(SEL_ALL, 'site, target') }],
      {
        transformations: [
          {
            id: 'organize',
            options: { excludeByName: { Time: true }, indexByName: { site: 0, target: 1, Value: 2 }, renameByName: { site: 'Site', target: 'Target', Value: 'Kernel keepalives keep the path alive' } },
          },
        ],
        mappings: [TCP_KEEPALIVE_MAP],
        overrides: [
          { matcher: { id: 'byName', options: 'Kernel keepalives keep the path alive' }, properties: [{ id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } }] },
          ...drillDownLink('Target'),
        ],
      },
    ),
    table(
      'Heartbeat sessions: seconds survived',
      'How long the session of each row lived (the whole window if it survived): SSH heartbeat intervals, tcp:N kernel keepalive rows and none.',
      { w: 12, h: 8 },
      [{ expr: `max by (target, interval) (idleprobe_heartbeat_survived_seconds{${SEL_ALL}})` }],
      {
        transformations: [{ id: 'groupingToMatrix', options: { columnField: 'interval', rowField: 'target', valueField: 'Value', emptyValue: 'null' } }],
        unit: 's',
      },
    ),

    row('Passive: real SSH sessions (passive:)'),
    timeseries(
      'Passive: sessions ending, by how',
      'SSH connections seen on the wire by the passive capture that ended, per server and how: fin/rst = closed, retransmissions_then_silence/silence = died while idle (unanswered, then nothing), closed_idle = closed by the far end after an idle gap (a proxy or load balancer: only SSH heartbeats keep it open), forgotten = silent for 2 h.',
      { w: 12, h: 7 },
      [{ expr: `sum by (server, end) (increase(idleprobe_passive_connections_total{${SEL_PASSIVE}}[$__interval]))`, legend: '{{server}} {{end}}', interval: '5m' }],
      { unit: 'none', bars: true, stack: true },
    ),
    timeseries(
      'Passive: idle age at death',
      'Median and 90th percentile of the idle age at which real sessions died or were closed idle by the far end (last hour), per server: where the path forgets (or, a proxy, closes) idle connections, as users live it.',
      { w: 12, h: 7 },
      [
        { expr: `histogram_quantile(0.5, sum by (server, le) (rate(idleprobe_passive_idle_death_age_seconds_bucket{${SEL_PASSIVE}}[1h])))`, legend: '{{server}} p50' },
        { expr: `histogram_quantile(0.9, sum by (server, le) (rate(idleprobe_passive_idle_death_age_seconds_bucket{${SEL_PASSIVE}}[1h])))`, legend: '{{server}} p90' },
      ],
    ),
    timeseries(
      'Passive: heartbeats answered and unanswered',
      'SSH heartbeats (ServerAliveInterval/ClientAliveInterval) of real sessions per server; unanswered ones mean the path (not the SSH config) dropped the session.',
      { w: 8, h: 7 },
      [{ expr: `sum by (server, answered) (increase(idleprobe_passive_heartbeats_total{${SEL_PASSIVE}}[$__interval]))`, legend: '{{server}} answered={{answered}}', interval: '5m' }],
      { unit: 'none', bars: true },
    ),
    timeseries(
      'Passive: sessions without any heartbeat',
      'Sessions that ended without a heartbeat or TCP keepalive seen, and the share of idle deaths: these are at the mercy of the shortest idle timeout on the path.',
      { w: 8, h: 7 },
      [
        { expr: `sum by (server) (increase(idleprobe_passive_sessions_without_heartbeat_total{${SEL_PASSIVE}}[$__interval]))`, legend: '{{server}} without heartbeat', interval: '5m' },
        { expr: `sum by (server) (increase(idleprobe_passive_connections_total{${SEL_PASSIVE}, ${DIED}}[$__interval]))`, legend: '{{server}} died idle', interval: '5m' },
      ],
      { unit: 'none', bars: true },
    ),
    timeseries(
      'Passive: idle timeout bracket',
      'From real sessions: the longest idle gap one survived (lower) and the shortest idle age at which one died (upper), per server.',
      { w: 8, h: 7 },
      [
        { expr: `max by (server) (idleprobe_passive_idle_timeout_lower_bound_seconds{${SEL_PASSIVE}})`, legend: '{{server}} survived' },
        { expr: `min by (server) (idleprobe_passive_idle_timeout_upper_bound_seconds{${SEL_PASSIVE}})`, legend: '{{server}} died' },
      ],
    ),
    stat(
      'Passive capture',
      'Whether the passive capture (tcpdump) is listening on each agent, and how often it had to be restarted in the selected range.',
      { w: 24, h: 4 },
      [
        { expr: 'min by (instance) (idleprobe_passive_capture_up{site=~"$site"})', legend: '{{instance}} up' },
        { expr: 'sum by (instance) (increase(idleprobe_passive_capture_restarts_total{site=~"$site"}[$__range]))', legend: '{{instance}} restarts' },
      ],
      { unit: 'none', decimals: 0 },
    ),

    row('Agent'),
    timeseries(
      'Measurements, failures and skipped runs',
      'Finished measurements, failed ones (connect, auth, host key) and scheduled runs skipped because the previous run was still going.',
      { w: 12, h: 7 },
      [
        { expr: `sum by (target) (increase(idleprobe_measurements_total{${SEL_ALL}}[$__interval]))`, legend: '{{target}} measured', interval: '5m' },
        { expr: `sum by (target) (increase(idleprobe_measurement_failures_total{${SEL_ALL}}[$__interval]))`, legend: '{{target}} failed', interval: '5m' },
        { expr: `sum by (target) (increase(idleprobe_measurements_skipped_total{${SEL_ALL}}[$__interval]))`, legend: '{{target}} skipped', interval: '5m' },
      ],
      { unit: 'none', bars: true },
    ),
    timeseries(
      'SSH sessions open',
      'Sessions idleprobe holds open per target: up to the configured number during a measurement, sentinels in between.',
      { w: 12, h: 7 },
      [{ expr: `sum by (target) (idleprobe_sessions_open{${SEL_ALL}})`, legend: '{{target}}' }],
      { unit: 'none', stack: true, fill: 30 },
    ),
  ];
  return dashboard(
    OVERVIEW_UID,
    'idleprobe / Overview',
    'Idle timeouts of every measured SSH path: current bracket, failure mode, trend, sentinels and heartbeat survival.',
    panels,
    true,
    { uid: TARGET_UID, title: 'Target drill-down' },
  );
}

export function targetDashboard() {
  const panels: Panel[] = [
    row('Latest result'),
    stat('Estimate', 'Estimated idle timeout per direction (outbound: client speaks after the silence; inbound: server speaks first).', { w: 4, h: 4 }, [{ expr: `max by (direction) (idleprobe_idle_timeout_seconds{${SEL_ONE}})`, legend: '{{direction}}' }], {
      thresholds: TIMEOUT_THRESHOLDS,
    }),
    stat('Verdict', 'What the latest measurement concluded per direction.', { w: 4, h: 4 }, [{ expr: verdictCode(SEL_ONE, 'direction'), legend: '{{direction}}' }], {
      unit: 'none',
      mappings: [VERDICT_MAP],
    }),
    stat('Failure mode', `How the path fails once idle too long: ${FAILURE_MODES_IN_WORDS}.`, { w: 4, h: 4 }, [{ expr: failureModeCode(SEL_ONE, 'direction'), legend: '{{direction}}' }], {
      unit: 'none',
      mappings: [FAILURE_MODE_MAP],
    }),
    stat('Recommended heartbeat', 'ServerAliveInterval / ClientAliveInterval to configure: at most half the shortest timeout, 20–45 s unless the path needs shorter. See `idleprobe advise`.', { w: 4, h: 4 }, [{ expr: `max(idleprobe_recommended_heartbeat_seconds{${SEL_ONE}})` }]),
    stat('Last measured', 'When the latest measurement finished, and how long it took.', { w: 4, h: 4 }, [
      { expr: `max(idleprobe_last_measurement_timestamp_seconds{${SEL_ONE}} > 0) * 1000`, legend: 'finished' },
    ], { unit: 'dateTimeFromNow' }),
    stat('Reachable', 'Whether the latest connect + authentication + host key check worked; and whether the server\'s own heartbeats (sshd ClientAliveInterval) mask the path timeout.', { w: 4, h: 4 }, [
      { expr: `max(idleprobe_target_up{${SEL_ONE}})`, legend: 'connect' },
    ], { unit: 'none', mappings: [UP_MAP] }),

    row('Bracket'),
    timeseries(
      'Idle timeout bracket',
      'The band is the bracket (survived, failed] per direction; the line the estimate. Dashed: the recommended heartbeat, and the server\'s own heartbeat when one was seen.',
      { w: 24, h: 9 },
      [
        { expr: `max by (direction) (idleprobe_idle_timeout_lower_bound_seconds{${SEL_ONE}})`, legend: '{{direction}} survived' },
        { expr: `max by (direction) (idleprobe_idle_timeout_upper_bound_seconds{${SEL_ONE}})`, legend: '{{direction}} failed' },
        { expr: `max by (direction) (idleprobe_idle_timeout_seconds{${SEL_ONE}})`, legend: '{{direction}} estimate' },
        { expr: `max(idleprobe_recommended_heartbeat_seconds{${SEL_ONE}})`, legend: 'recommended heartbeat' },
        { expr: `max(idleprobe_server_heartbeat_seconds{${SEL_ONE}})`, legend: 'server heartbeat' },
      ],
      {
        overrides: [
          ...bandOverrides([
            { lower: 'outbound survived', upper: 'outbound failed', color: 'blue' },
            { lower: 'inbound survived', upper: 'inbound failed', color: 'purple' },
          ]),
          ...['recommended heartbeat', 'server heartbeat'].map((name) => ({
            matcher: { id: 'byName', options: name },
            properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }],
          })),
        ],
      },
    ),
    timeseries(
      'Idle timeout, 30 days, against its 7-day maximum',
      'Estimate (found timeouts only), its rolling 7-day maximum, and 80% of that maximum: below it IdleprobeTimeoutShrank fires.',
      { w: 16, h: 8 },
      [
        { expr: `max by (direction) (${found(SEL_ONE)})`, legend: '{{direction}} estimate', interval: '1h' },
        // A range selector, not a subquery over `found`: subquery steps align to whole hours and would show
        // nothing for the first hour. The exporter sets the estimate only when a timeout was found.
        { expr: `max by (direction) (max_over_time(idleprobe_idle_timeout_seconds{${SEL_ONE}}[7d]))`, legend: '{{direction}} 7-day max', interval: '1h' },
        { expr: `0.8 * max by (direction) (max_over_time(idleprobe_idle_timeout_seconds{${SEL_ONE}}[7d]))`, legend: '{{direction}} shrink alert line', interval: '1h' },
      ],
      { timeFrom: '30d' },
    ),
    stateTimeline('Verdict history', 'Verdict of each measurement over time.', { w: 8, h: 8 }, [{ expr: verdictCode(SEL_ONE, 'direction'), legend: '{{direction}}' }], [VERDICT_MAP]),

    row('Heartbeat survival'),
    table(
      'Heartbeat survival by interval',
      'Per row of the survival matrix — an SSH heartbeat interval in seconds, tcp:N (kernel TCP keepalives every N s, nothing at SSH level) or none: did the session survive the window, how long it lived, and how many heartbeats went unanswered (the black-hole signature; tcp:N and none send none).',
      { w: 12, h: 8 },
      [
        { expr: `max by (interval) (idleprobe_heartbeat_survived{${SEL_ONE}})` },
        { expr: `max by (interval) (idleprobe_heartbeat_survived_seconds{${SEL_ONE}})` },
        { expr: `max by (interval) (idleprobe_heartbeat_unanswered{${SEL_ONE}})` },
      ],
      {
        transformations: [
          { id: 'merge', options: {} },
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              indexByName: { interval: 0, 'Value #A': 1, 'Value #B': 2, 'Value #C': 3 },
              renameByName: { interval: 'Row (s; tcp:N = kernel keepalives)', 'Value #A': 'Survived', 'Value #B': 'Lived', 'Value #C': 'Unanswered heartbeats' },
            },
          },
        ],
        overrides: [
          { matcher: { id: 'byName', options: 'Survived' }, properties: [{ id: 'mappings', value: [SURVIVED_MAP] }, { id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } }] },
          { matcher: { id: 'byName', options: 'Lived' }, properties: [{ id: 'unit', value: 's' }] },
        ],
      },
    ),
    stat(
      'Kernel TCP keepalives keep this path alive',
      'From the latest survival matrix with tcp:N rows: yes — the box counts kernel keepalives (a NAT or stateful firewall): TCPKeepAlive with net.ipv4.tcp_keepalive_time below the timeout, on the host that owns the socket, keeps sessions alive (ssh still learns nothing of a dead path from them); no — it does not (a proxy load balancer): only ServerAliveInterval / ClientAliveInterval help; unknown — add tcp:N rows to `heartbeat.intervals`.',
      { w: 4, h: 8 },
      [{ expr: `max(idleprobe_tcp_keepalive_refreshes_path{${SEL_ONE}}) or vector(-1)` }],
      { unit: 'none', mappings: [TCP_KEEPALIVE_MAP], textMode: 'value' },
    ),
    timeseries(
      'Seconds survived per heartbeat interval',
      'How long the session of each matrix row lived, per run: SSH heartbeat intervals (solid) and kernel TCP keepalive rows tcp:N (dashed).',
      { w: 8, h: 8 },
      [
        { expr: `max by (interval) (idleprobe_heartbeat_survived_seconds{${SEL_ONE}, ${SSH_ROWS}})`, legend: 'SSH heartbeat every {{interval}} s' },
        { expr: `max by (interval) (idleprobe_heartbeat_survived_seconds{${SEL_ONE}, ${TCP_ROWS}})`, legend: 'kernel keepalives {{interval}}' },
      ],
      { overrides: [{ matcher: { id: 'byRegexp', options: '^kernel keepalives ' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }] }] },
    ),

    row('Measurement runs'),
    timeseries('Measurement duration', 'How long each finished measurement took. A cold search takes a small multiple of the timeout, a warm re-measurement little more than it.', { w: 8, h: 7 }, [
      { expr: `max(idleprobe_last_measurement_duration_seconds{${SEL_ONE}})`, legend: 'duration' },
    ]),
    timeseries('Runs, failures, sentinel deaths', 'Finished, failed and skipped runs, and sentinel deaths (each triggers a re-measurement).', { w: 8, h: 7 }, [
      { expr: `sum(increase(idleprobe_measurements_total{${SEL_ONE}}[$__interval]))`, legend: 'measured', interval: '5m' },
      { expr: `sum(increase(idleprobe_measurement_failures_total{${SEL_ONE}}[$__interval]))`, legend: 'failed', interval: '5m' },
      { expr: `sum(increase(idleprobe_measurements_skipped_total{${SEL_ONE}}[$__interval]))`, legend: 'skipped', interval: '5m' },
      { expr: `sum(increase(idleprobe_sentinel_deaths_total{${SEL_ONE}}[$__interval]))`, legend: 'sentinel deaths', interval: '5m' },
    ], { unit: 'none', bars: true }),
    timeseries('SSH sessions open', 'Sessions open to this target (measurement sessions, control session, sentinels) and whether server heartbeats mask the timeout (1).', { w: 8, h: 7 }, [
      { expr: `sum(idleprobe_sessions_open{${SEL_ONE}})`, legend: 'sessions' },
      { expr: `max(idleprobe_masked_by_server_heartbeat{${SEL_ONE}})`, legend: 'masked by server heartbeat' },
    ], { unit: 'none' }),
  ];
  return dashboard(
    TARGET_UID,
    'idleprobe / Target',
    'One SSH path in detail: bracket history, 30-day trend against its 7-day maximum, verdicts, heartbeat survival and measurement runs.',
    panels,
    false,
    { uid: OVERVIEW_UID, title: 'Overview' },
  );
}

export const DASHBOARDS = [
  { file: 'idleprobe-overview.json', build: overviewDashboard },
  { file: 'idleprobe-target.json', build: targetDashboard },
];
