// Turns target snapshots into Prometheus metrics (prom-client), using the one list of names in
// metric-names.ts. A fresh registry is built from a snapshot instead of mutating long-lived series:
// removed targets cannot leave stale series behind, and /probe gets its own registry for free.
// /metrics caches the rendered text until the daemon reports a change (results change every few
// minutes; scrapes come every few seconds), and adds the process metrics rendered on each scrape.
import { enforcingBox } from '../daemon/jobs/locate.ts';
import { recommendedIntervalSeconds } from '../advise/recommend.ts';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC } from './metric-names.ts';
import type { TargetSnapshot } from '../daemon/state.ts';
import { IncrementalTargetText } from './incremental.ts';
import type { Direction, FailureMode, Verdict } from '../search/types.ts';
import { HEARTBEAT_HELP, heartbeatSamples } from './heartbeat-samples.ts';
import { configuredRows } from '../daemon/heartbeat-plan.ts';
import type { AnalysisStats } from './analysis-gate.ts';
import type { PassiveSnapshot } from '../daemon/jobs/passive.ts';
import { passiveExposition } from './passive-metrics.ts';
import { REFUSED_CONNECTION_REASONS, REFUSED_REQUEST_REASONS, type HttpCounters } from './http-counters.ts';

const gzipAsync = promisify(gzip);
const CACHED = 'Cached result of the latest successful measurement (a measurement takes minutes; scrapes do not trigger one).';
const LOCATED = 'Cached result of the latest successful locate run (one takes about 1.5 × the path timeout; scrapes do not trigger one).';
const FAILURE_MODES: (FailureMode | 'none')[] = ['silent', 'reset', 'none'];
const VERDICTS: Verdict[] = ['timeout', 'no_timeout_up_to_max', 'masked', 'inconclusive', 'unsupported'];

function makeTargetMetrics(registry: Registry) {
  const reg = [registry];
  const td = ['target', 'direction'] as const;
  const t = ['target'] as const;
  return {
    estimate: new Gauge({ name: METRIC.timeoutEstimate, help: `Estimated idle timeout of the path, seconds. ${CACHED}`, labelNames: td, registers: reg }),
    lower: new Gauge({ name: METRIC.timeoutLower, help: `Longest idle age that survived (lower bound of the timeout), seconds. ${CACHED}`, labelNames: td, registers: reg }),
    upper: new Gauge({ name: METRIC.timeoutUpper, help: `Shortest idle age that failed (upper bound of the timeout), seconds. ${CACHED}`, labelNames: td, registers: reg }),
    failureMode: new Gauge({ name: METRIC.failureMode, help: `1 for how the path fails once idle too long (silent drop, reset, none found), else 0. ${CACHED}`, labelNames: ['target', 'direction', 'mode'], registers: reg }),
    verdict: new Gauge({ name: METRIC.verdict, help: `1 for the verdict of the latest measurement per direction, else 0. ${CACHED}`, labelNames: ['target', 'direction', 'verdict'], registers: reg }),
    lastTimestamp: new Gauge({ name: METRIC.lastMeasurementTimestamp, help: 'Unix time the latest successful measurement finished, seconds.', labelNames: t, registers: reg }),
    lastDuration: new Gauge({ name: METRIC.lastMeasurementDuration, help: 'How long the latest successful measurement took, seconds (measurements take minutes).', labelNames: t, registers: reg }),
    measurements: new Counter({ name: METRIC.measurements, help: 'Measurements finished since the daemon started (successful or not).', labelNames: t, registers: reg }),
    failures: new Counter({ name: METRIC.measurementFailures, help: 'Measurements that failed (connect, auth, host key or internal error) since the daemon started.', labelNames: t, registers: reg }),
    skipped: new Counter({ name: METRIC.measurementsSkipped, help: 'Scheduled runs skipped because the previous run of the target was still going.', labelNames: t, registers: reg }),
    sessionsOpen: new Gauge({ name: METRIC.sessionsOpen, help: 'SSH sessions open now for the target (measurement, sentinel and heartbeat matrix).', labelNames: t, registers: reg }),
    masked: new Gauge({ name: METRIC.maskedByServerHeartbeat, help: `1 if the server's own heartbeats (sshd ClientAliveInterval) masked the path timeout. ${CACHED}`, labelNames: t, registers: reg }),
    serverHeartbeat: new Gauge({ name: METRIC.serverHeartbeat, help: `Interval of the server's own heartbeats seen while idle, seconds. ${CACHED}`, labelNames: t, registers: reg }),
    sentinelDeaths: new Counter({ name: METRIC.sentinelDeaths, help: 'Sentinel sessions (idling at ~90% of the estimate) that died: the timeout shrank and a re-measurement started.', labelNames: t, registers: reg }),
    recommended: new Gauge({ name: METRIC.recommendedHeartbeat, help: `Recommended heartbeat interval (ServerAliveInterval) for the path, seconds. ${CACHED}`, labelNames: t, registers: reg }),
    up: new Gauge({ name: METRIC.targetUp, help: '1 if the latest measurement could connect and authenticate, 0 if it could not.', labelNames: t, registers: reg }),
    // Located boxes (targets with `locate: true`), one series per box's hop.
    // (LOCATED: cached like the timeout gauges, but from the latest good locate run.)
    middleboxTimeout: new Gauge({ name: METRIC.middleboxTimeout, help: `Estimated idle timeout of the box at this hop (idleprobe locate), seconds. ${LOCATED}`, labelNames: ['target', 'hop'], registers: reg }),
    middleboxLower: new Gauge({ name: METRIC.middleboxTimeoutLower, help: `Longest idle age the box at this hop kept (lower bound of its timeout), seconds. ${LOCATED}`, labelNames: ['target', 'hop'], registers: reg }),
    middleboxUpper: new Gauge({ name: METRIC.middleboxTimeoutUpper, help: `Shortest idle age the box at this hop forgot (upper bound of its timeout), seconds. ${LOCATED}`, labelNames: ['target', 'hop'], registers: reg }),
    middleboxHop: new Gauge({ name: METRIC.middleboxHop, help: `Hop number (IP TTL) of the box enforcing the path's idle timeout. ${LOCATED}`, labelNames: t, registers: reg }),
    // Heartbeat survival matrix (targets with `heartbeat:` configured), one series per interval.
    heartbeat: {
      [METRIC.heartbeatSurvived]: new Gauge({ name: METRIC.heartbeatSurvived, help: HEARTBEAT_HELP[METRIC.heartbeatSurvived], labelNames: ['target', 'interval'], registers: reg }),
      [METRIC.heartbeatSurvivedSeconds]: new Gauge({ name: METRIC.heartbeatSurvivedSeconds, help: HEARTBEAT_HELP[METRIC.heartbeatSurvivedSeconds], labelNames: ['target', 'interval'], registers: reg }),
      [METRIC.heartbeatUnanswered]: new Gauge({ name: METRIC.heartbeatUnanswered, help: HEARTBEAT_HELP[METRIC.heartbeatUnanswered], labelNames: ['target', 'interval'], registers: reg }),
    },
  };
}

function addTarget(m: ReturnType<typeof makeTargetMetrics>, s: TargetSnapshot): void {
  const target = s.name;
  const result = s.latestOk?.result ?? null;
  const byDirection = new Map((result?.results ?? []).map((r) => [r.direction, r]));
  const directions = new Set<Direction>([...s.directions, ...byDirection.keys()]);
  for (const direction of directions) {
    const r = byDirection.get(direction);
    if (r?.estimateSeconds != null) m.estimate.set({ target, direction }, r.estimateSeconds);
    if (r?.lowerSeconds != null) m.lower.set({ target, direction }, r.lowerSeconds);
    if (r?.upperSeconds != null) m.upper.set({ target, direction }, r.upperSeconds);
    // Label-per-state gauges: every state exported (0 until known) so the series exist from the start.
    const mode = r ? (r.failureMode ?? 'none') : null;
    for (const fm of FAILURE_MODES) m.failureMode.set({ target, direction, mode: fm }, fm === mode ? 1 : 0);
    for (const v of VERDICTS) m.verdict.set({ target, direction, verdict: v }, r?.verdict === v ? 1 : 0);
  }
  if (s.latestOk) {
    m.lastTimestamp.set({ target }, s.latestOk.finishedAtMs / 1000);
    m.lastDuration.set({ target }, s.latestOk.durationSeconds);
  }
  m.measurements.inc({ target }, s.counters.measurements);
  m.failures.inc({ target }, s.counters.failures);
  m.skipped.inc({ target }, s.counters.skipped);
  m.sentinelDeaths.inc({ target }, s.counters.sentinelDeaths);
  m.sessionsOpen.set({ target }, s.sessionsOpen);
  m.masked.set({ target }, result?.results.some((r) => r.verdict === 'masked') ? 1 : 0);
  if (result?.serverHeartbeatSeconds != null) m.serverHeartbeat.set({ target }, result.serverHeartbeatSeconds);
  // The measurement with the target's latest matrix, as `idleprobe advise --history` sees them.
  const recommended = result ? recommendedIntervalSeconds(result, s.heartbeat?.latestOk?.matrix) : null;
  if (recommended !== null) m.recommended.set({ target }, recommended);
  // Unknown before the first attempt: no series rather than a false "down".
  if (s.up !== null) m.up.set({ target }, s.up);
  // As the timeout gauges: a series only for what the latest good locate found, only while `locate` is on.
  const located = s.locate?.latestOk?.result;
  if (located) {
    for (const b of located.boxes) {
      const labels = { target, hop: String(b.hop) };
      m.middleboxTimeout.set(labels, b.estimateSeconds);
      if (b.lowerSeconds !== null) m.middleboxLower.set(labels, b.lowerSeconds);
      m.middleboxUpper.set(labels, b.upperSeconds);
    }
    const enforcing = enforcingBox(located);
    if (enforcing) m.middleboxHop.set({ target }, enforcing.hop);
  }
  // Only while a matrix is configured, and only its configured intervals: a reload that drops them drops the series.
  const matrix = s.heartbeat?.latestOk?.matrix;
  if (s.heartbeat && matrix) {
    for (const sample of heartbeatSamples({ ...configuredRows(matrix, s.heartbeat.settings), target })) {
      m.heartbeat[sample.name].set(sample.labels, sample.value);
    }
  }
}

/** A fresh registry holding the per-target metrics of the given snapshots (also used by /probe). */
export function buildTargetRegistry(snapshots: TargetSnapshot[]): Registry {
  const registry = new Registry();
  const m = makeTargetMetrics(registry);
  for (const s of snapshots) addTarget(m, s);
  return registry;
}

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface ReloadInfo {
  successful: boolean;
  lastSuccessAt: number;
}

/** Daemon-wide counters read at scrape time besides the reload status (each optional). */
export interface ProcessStats {
  analyses?: () => AnalysisStats;
  historyWriteFailures?: () => number;
  /** The passive capture's counters (null while `passive:` is off). */
  passive?: () => PassiveSnapshot | null;
  /** What the HTTP bounds turned away (connections evicted or refused, requests refused). */
  http?: HttpCounters;
}

/** Daemon-wide metrics: process defaults plus the config reload status, read at scrape time. */
export function buildProcessRegistry(reloadInfo: () => ReloadInfo, stats: ProcessStats = {}): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which the exposition guidelines (and promtool's
  // linter) reserve for counters; the same counts exist as nodejs_active_*-free process metrics.
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  new Gauge({
    name: METRIC.configReloadSuccess,
    help: 'Whether the last configuration reload attempt was successful (1) or kept the previous config (0).',
    registers: [registry],
    collect() {
      this.set(reloadInfo().successful ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC.configReloadTimestamp,
    help: 'Unix time of the last successful configuration (re)load, seconds.',
    registers: [registry],
    collect() {
      this.set(reloadInfo().lastSuccessAt / 1000);
    },
  });
  const analyses = stats.analyses;
  if (analyses) {
    new Gauge({ name: METRIC.captureAnalysesInFlight, help: 'Capture analyses (POST /api/analyze) running now.', registers: [registry], collect() { this.set(analyses().inFlight); } });
    // Counters read from a running total: a gauge-typed collect would break rate(); set via reset+inc.
    new Counter({ name: METRIC.captureAnalysesRejected, help: 'Capture uploads refused with 429 because the concurrent-analysis limit was reached.', registers: [registry], collect() { this.reset(); this.inc(analyses().rejected); } });
    new Counter({ name: METRIC.captureFlowsEvicted, help: 'Connections evicted at the live-flow cap during capture analyses (half-open first, then the longest idle).', registers: [registry], collect() { this.reset(); this.inc(analyses().flowsEvicted); } });
  }
  const writeFailures = stats.historyWriteFailures;
  if (writeFailures) {
    new Counter({ name: METRIC.historyWriteFailures, help: 'History writes that failed (each retry counts); the result stays exported from memory meanwhile.', registers: [registry], collect() { this.reset(); this.inc(writeFailures()); } });
  }
  const http = stats.http;
  if (http) {
    new Counter({ name: METRIC.httpConnectionsEvicted, help: 'HTTP connections still opening or idle that were closed to admit a new one at a connection cap.', registers: [registry], collect() { this.reset(); this.inc(http.connectionsEvicted); } });
    new Counter({
      name: METRIC.httpConnectionsRefused,
      help: 'New HTTP connections closed at accept: every slot had a request in progress (all_busy), or the client opened them too fast (connection_rate).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const reason of REFUSED_CONNECTION_REASONS) this.inc({ reason }, http.connectionsRefused[reason]);
      },
    });
    new Counter({
      name: METRIC.httpRequestsRefused,
      help: 'HTTP requests refused by a bound: too many API/page requests in progress (busy, 503), over the rate_limit (429), the bcrypt queue full (auth_queue, 429).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const reason of REFUSED_REQUEST_REASONS) this.inc({ reason }, http.requestsRefused[reason]);
      },
    });
  }
  return registry;
}

/** Age after which the process metrics in a reused /metrics body are refreshed (in the background). */
export const PROCESS_METRICS_MAX_AGE_MS = 1000;
/** A body older than this is never served again: the scrape waits for a fresh one. */
export const STALE_BODY_LIMIT_MS = 5000;

export interface RenderedBody {
  body: Buffer;
  /** The same body gzip-compressed (compressed off the event loop; Prometheus always accepts gzip). */
  gzip(): Promise<Buffer>;
}

/**
 * Renders /metrics. The target part changes only when the daemon reports a change (results land
 * every few minutes, scrapes come every few seconds), so the encoded body is reused while the daemon
 * is unchanged: a scrape after a change, or after STALE_BODY_LIMIT_MS, waits for a fresh body;
 * between PROCESS_METRICS_MAX_AGE_MS and that limit the cached body is served once more while a fresh
 * one is built in the background (stale-while-revalidate, for bursts of concurrent scrapers; a
 * Prometheus scraping every 15 s always gets a fresh one). With 1,000 targets the body is ~2 MB: rendering,
 * encoding and compressing it per scrape would dominate the scrape latency.
 */
export class MetricsRenderer {
  private targetCache: { version: number; text: Promise<string>; bytes: Promise<Buffer> } | null = null;
  private bodyCache: { version: number; at: number; body: Promise<RenderedBody> } | null = null;
  private refreshing: Promise<unknown> | null = null;
  private readonly incremental = new IncrementalTargetText((snaps) => buildTargetRegistry(snaps).metrics());
  private readonly processRegistry: Registry;

  constructor(
    private readonly source: { version: number; snapshots(): TargetSnapshot[]; reloadStatus: ReloadInfo },
    private readonly now: () => number = Date.now,
    stats: ProcessStats = {},
  ) {
    this.processRegistry = buildProcessRegistry(() => this.source.reloadStatus, stats);
    this.passive = stats.passive ?? (() => null);
  }

  private readonly passive: () => PassiveSnapshot | null;

  /** Process metrics and the passive capture's counters: both read at scrape time. */
  private async processText(): Promise<string> {
    const text = await this.processRegistry.metrics();
    const passive = this.passive();
    return passive ? joinExposition(text, passiveExposition(passive)) : text;
  }

  get contentType(): string {
    return this.processRegistry.contentType;
  }

  private targetPart(): { text: Promise<string>; bytes: Promise<Buffer> } {
    const version = this.source.version;
    if (this.targetCache && this.targetCache.version === version) return this.targetCache;
    // Concurrent scrapes of the same version share one rendering; unchanged targets are reused.
    const text = this.incremental.render(this.source.snapshots());
    const bytes = text.then((t) => Buffer.from(t.length === 0 || t.endsWith('\n') ? t : `${t}\n`, 'utf8'));
    this.targetCache = { version, text, bytes };
    bytes.catch(() => {
      if (this.targetCache?.text === text) this.targetCache = null;
    });
    return this.targetCache;
  }

  private targetText(): Promise<string> {
    return this.targetPart().text;
  }

  async render(): Promise<string> {
    const [processText, targetText] = await Promise.all([this.processText(), this.targetText()]);
    return joinExposition(processText, targetText);
  }

  private startBody(version: number): Promise<RenderedBody> {
    const at = this.now();
    // The ~2 MB target part stays encoded per version; only the small process part is new.
    const body = Promise.all([this.processText(), this.targetPart().bytes]).then(([processText, targetBytes]) => {
      const buf = Buffer.concat([Buffer.from(joinExposition(processText), 'utf8'), targetBytes]);
      let gz: Promise<Buffer> | null = null;
      // Level 1: ~3x faster than 6 on this repetitive text, and the body is still ~10x smaller.
      return { body: buf, gzip: () => (gz ??= gzipAsync(buf, { level: 1 })) };
    });
    body.catch(() => {
      if (this.bodyCache?.body === body) this.bodyCache = null;
    });
    return body.then((b) => {
      // Only a complete body replaces the cached one, so concurrent scrapes never wait on a refresh.
      if (this.source.version === version) this.bodyCache = { version, at, body: Promise.resolve(b) };
      return b;
    });
  }

  /** The encoded body, shared by scrapes (see the class comment for when it is rebuilt). */
  renderBody(): Promise<RenderedBody> {
    const version = this.source.version;
    const c = this.bodyCache;
    const age = c ? this.now() - c.at : Infinity;
    // Changed, or so old that serving it would show process metrics from a scrape interval ago.
    if (!c || c.version !== version || age >= STALE_BODY_LIMIT_MS) {
      const fresh = this.startBody(version);
      this.bodyCache = { version, at: this.now(), body: fresh };
      return fresh;
    }
    if (age >= PROCESS_METRICS_MAX_AGE_MS && !this.refreshing) {
      this.refreshing = this.startBody(version)
        .then((b) => b.gzip())
        .catch(() => undefined)
        .finally(() => (this.refreshing = null));
    }
    return c.body;
  }

  /** Resolves once the background refresh in flight, if any, has replaced the cached body. */
  async refreshed(): Promise<void> {
    await this.refreshing;
  }
}

export function joinExposition(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .map((p) => (p.endsWith('\n') ? p : `${p}\n`))
    .join('');
}
