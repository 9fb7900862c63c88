// Turns target snapshots into Prometheus metrics (prom-client), generically: the families every
// target has (sessions open, sentinel deaths) and each job kind's own families and samples (its
// presenter, in its job file; names from src/read-model/metric-names.ts). A fresh registry is built
// from the snapshots instead of mutating long-lived series: removed targets cannot leave stale
// series behind, and /probe gets its own registry for free. /metrics caches the rendered text until
// the read model reports a change (results change every few minutes; scrapes come every few seconds),
// and adds the process metrics rendered on each scrape.
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC } from '../read-model/metric-names.ts';
import type { KindInfo, MetricFamily, PassiveSnapshot, ReadModel, TargetSnapshot } from '../read-model/read-model.ts';
import { IncrementalTargetText } from './incremental.ts';
import type { AnalysisStats } from './analysis-gate.ts';
import { passiveExposition } from './passive-metrics.ts';
import { REFUSED_CONNECTION_REASONS, REFUSED_REQUEST_REASONS, type HttpCounters } from './http-counters.ts';

const gzipAsync = promisify(gzip);

/** The families of every target, whatever kinds it has. */
const TARGET_FAMILIES: readonly MetricFamily[] = [
  { name: METRIC.sessionsOpen, type: 'gauge', labelNames: ['target'], help: 'SSH sessions open now for the target (measurement, sentinel and heartbeat matrix).' },
  { name: METRIC.sentinelDeaths, type: 'counter', labelNames: ['target'], help: 'Sentinel sessions (idling at ~90% of the estimate) that died: the timeout shrank and a re-measurement started.' },
];

/** One prom-client metric per family, registered in `registry`; a sample sets (gauge) or adds up to (counter) its value. */
function register(registry: Registry, families: readonly MetricFamily[]): Map<string, (labels: Readonly<Record<string, string>>, value: number) => void> {
  const writers = new Map<string, (labels: Readonly<Record<string, string>>, value: number) => void>();
  for (const f of families) {
    const config = { name: f.name, help: f.help, labelNames: f.labelNames, registers: [registry] };
    if (f.type === 'counter') {
      const c = new Counter(config);
      writers.set(f.name, (labels, value) => c.inc(labels, value));
    } else {
      const g = new Gauge(config);
      writers.set(f.name, (labels, value) => g.set(labels, value));
    }
  }
  return writers;
}

/** A fresh registry holding the per-target metrics of the given snapshots (also used by /probe). */
export function buildTargetRegistry(kinds: readonly KindInfo[], snapshots: TargetSnapshot[]): Registry {
  const registry = new Registry();
  const write = register(registry, [...TARGET_FAMILIES, ...kinds.flatMap((k) => k.families)]);
  for (const s of snapshots) {
    const target = s.name;
    write.get(METRIC.sessionsOpen)?.({ target }, s.sessionsOpen);
    write.get(METRIC.sentinelDeaths)?.({ target }, s.sentinelDeaths);
    for (const job of s.jobs) {
      for (const sample of job.samples()) {
        const writer = write.get(sample.name);
        // A kind's sample outside its declared families is a bug in that kind: fail loudly, not silently drop it.
        if (!writer) throw new Error(`job kind ${job.kind}: sample ${sample.name} belongs to no declared metric family`);
        writer(sample.labels, sample.value);
      }
    }
  }
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
  /** What the HTTP bounds turned away (connections evicted or refused, requests refused). */
  http?: HttpCounters;
}

/** What /metrics reads of the read model. */
export type MetricsSource = Pick<ReadModel, 'version' | 'kinds' | 'targets' | 'reloadStatus' | 'passive'>;

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
  private readonly incremental: IncrementalTargetText;
  private readonly processRegistry: Registry;

  constructor(
    private readonly source: MetricsSource,
    private readonly now: () => number = Date.now,
    stats: ProcessStats = {},
  ) {
    this.processRegistry = buildProcessRegistry(() => this.source.reloadStatus, stats);
    this.incremental = new IncrementalTargetText((snaps) => buildTargetRegistry(source.kinds(), snaps).metrics());
  }

  /** Process metrics and the passive capture's counters: both read at scrape time. */
  private async processText(): Promise<string> {
    const text = await this.processRegistry.metrics();
    const passive: PassiveSnapshot | null = this.source.passive();
    return passive ? joinExposition(text, passiveExposition(passive)) : text;
  }

  get contentType(): string {
    return this.processRegistry.contentType;
  }

  private targetPart(): { text: Promise<string>; bytes: Promise<Buffer> } {
    const version = this.source.version;
    if (this.targetCache && this.targetCache.version === version) return this.targetCache;
    // Concurrent scrapes of the same version share one rendering; unchanged targets are reused.
    const text = this.incremental.render(this.source.targets());
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
