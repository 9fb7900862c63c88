// The data side of the status pages (`/`, `/targets/:name`): the one adapter between the read model
// (what the daemon shows) and what src/pictures draws, and the caches that keep rendering cheap. A
// target's fields are those of its entry in GET /api/targets (the measurement kind's presenter), so
// what a page shows is what the API says.
//
// Cost: a target's overview row (its JSON and HTML) is kept until that target's snapshot changes,
// like /metrics' incremental rendering; its sparkline's trend is read from history once, in the
// background, then kept up to date from the snapshots; a whole page is kept until something on it
// changes, and its gzip is made once per kept page.
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import type { PassiveSnapshot, ReadModel, RunRecord, TargetSnapshot } from '../read-model/read-model.ts';
import { HEARTBEAT, LOCATE, MEASUREMENT } from '../read-model/kinds.ts';
import { runFieldsJson } from '../read-model/run-json.ts';
import type { MeasurementResult } from '../search/types.ts';
import { DEATH_AGE_BUCKETS, normaliseEndpoint } from '../capture/passive-counters.ts';
import type { HistoryRunJson, KindRun, OverviewRow, PageInfo, PassiveServerView, RunSummaryJson, TargetJson, TargetPageData, TrendPoint } from '../pictures/model.ts';
import { overviewItem, overviewPage, type OverviewItem, type SortSpec } from '../pictures/overview.ts';
import { targetPage, trendOf } from '../pictures/target-page.ts';

const gzip = promisify(gzipCb);

/** What the pages read of the read model. */
export type PagesSource = Pick<ReadModel, 'version' | 'targets' | 'target' | 'history' | 'reloadStatus' | 'passive'>;

/** A kept page is served again for at most this long (it says when it was put together). */
export const PAGE_MAX_AGE_MS = 60_000;
/** The trend of a row, and the target page's history, cover this many days by default. */
export const DEFAULT_DAYS = 30;
/** Most runs one history query reads for a page (the API's own page limit). */
export const MAX_RUNS_READ = 1000;
/** Runs behind a sparkline: enough for 30 days of the default 6-hourly schedule. */
export const TREND_RUNS = 120;
/** Trends read in the background are shown (the kept page rebuilt) per this many, and when all are read. */
const TREND_BATCH = 100;
/** Kept target pages (distinct name × days × refresh); the oldest goes first. */
const MAX_TARGET_PAGES = 64;

export interface RenderedPage {
  html: string;
  /** The page encoded once (UTF-8): every response writes this Buffer, not the string again. */
  bytes: Buffer;
  gzip(): Promise<Buffer>;
}

function rendered(html: string): RenderedPage {
  // Sent as a string, the ~1 MB overview was encoded anew for every response (measured: a flood of
  // 48 clients without gzip spent a second of the event loop per 10 s in it).
  const bytes = Buffer.from(html, 'utf8');
  let gz: Promise<Buffer> | null = null;
  // Level 1: the pages are repetitive markup; ~3x faster than the default at a similar size.
  return { html, bytes, gzip: () => (gz ??= gzip(bytes, { level: 1 })) };
}

type MeasurementRecord = RunRecord<MeasurementResult>;

function historyRun(e: MeasurementRecord): HistoryRunJson {
  return { id: e.id, status: e.status, startedAt: e.startedAt, finishedAtMs: e.finishedAtMs, durationSeconds: e.durationSeconds, result: e.result, errorKind: e.errorKind, error: e.error };
}

/** A measurement as GET /api/targets summarises it (src/daemon/jobs/measurement-view.ts): no probes. */
function runSummary(e: MeasurementRecord | null): RunSummaryJson | null {
  if (!e) return null;
  return {
    ...runFieldsJson(e),
    results: e.result?.results.map(({ probes: _probes, ...r }) => r) ?? null,
    serverHeartbeatSeconds: e.result?.serverHeartbeatSeconds ?? null,
    recommendedHeartbeatSeconds: e.result?.recommendedHeartbeatSeconds ?? null,
  };
}

/** The measurement kind's cron expression (its settings are the kind's own, untyped here). */
function scheduleOf(settings: unknown): string {
  return typeof settings === 'object' && settings !== null && 'schedule' in settings && typeof settings.schedule === 'string' ? settings.schedule : '';
}

/** The target's entry of GET /api/targets, the fields the pages use. */
export function targetView(s: TargetSnapshot): TargetJson {
  const m = MEASUREMENT.of(s);
  const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
  return {
    name: s.name,
    host: s.host,
    port: s.port,
    module: s.module,
    directions: s.directions,
    schedule: scheduleOf(m?.settings),
    nextRunAt: iso(m?.nextRunAt),
    running: m?.running ? { since: new Date(m.running.since).toISOString(), reason: m.running.reason } : null,
    up: m?.reachable ?? null,
    latest: runSummary(m?.latestOk ?? null),
    lastAttempt: runSummary(m?.latest ?? null),
  };
}

function kindRun<T>(e: RunRecord<T> | null): KindRun<T> | null {
  return e ? { finishedAt: new Date(e.finishedAtMs).toISOString(), status: e.status, error: e.error, result: e.result } : null;
}

export function passiveViews(p: PassiveSnapshot | null): PassiveServerView[] | null {
  if (!p) return null;
  return [...p.servers.entries()].map(([server, c]) => ({
    server,
    bucketBounds: DEATH_AGE_BUCKETS,
    cumulative: c.deathAge.buckets,
    count: c.deathAge.count,
    connections: { ...c.connections },
    lowerBoundSeconds: c.lowerBoundSeconds,
    upperBoundSeconds: c.upperBoundSeconds,
  }));
}

interface RowCache {
  key: string;
  row: OverviewRow;
  item: OverviewItem;
}

/** A target's sparkline points and the newest measurement they include. */
interface Trend {
  lastId: number | null;
  points: TrendPoint[];
  /** Bumped whenever the points change (part of the row's cache key). */
  rev: number;
}

/** The sparkline point of one stored measurement. */
function trendPoint(e: MeasurementRecord): TrendPoint {
  return trendOf([historyRun(e)])[0];
}

/** The first UTC midnight after `now`: rows write the times of `now`'s day without their date. */
const nextUtcMidnight = (now: number) => (Math.floor(now / 86400_000) + 1) * 86400_000;

export class PageRenderer {
  private readonly rows = new Map<string, RowCache>();
  private readonly trends = new Map<string, Trend>();
  /** Targets whose trend is read from history in the background, one per turn of the event loop. */
  private readonly trendQueue = new Set<string>();
  private pumping = false;
  private readonly drained: (() => void)[] = [];
  /** Bumped when read trends are ready to show: kept overview pages are then rebuilt. */
  private trendVersion = 0;
  /** Trends read since the last bump: shown in batches, so a cold start does not rebuild the page per target. */
  private trendsUnshown = 0;
  private overviewCache = new Map<string, { key: string; validUntil: number; page: RenderedPage }>();
  private readonly targetCache = new Map<string, { version: number; at: number; page: RenderedPage }>();
  /** Rows rebuilt by the last overview render, and over all renders (tests, the benchmark). */
  lastRowsRebuilt = 0;
  rowsRebuilt = 0;
  overviewRenders = 0;

  constructor(
    private readonly source: PagesSource,
    private readonly info: { version: string },
    private readonly now: () => number = Date.now,
  ) {}

  private pageInfo(refreshSeconds: number): PageInfo {
    return { version: this.info.version, reloadOk: this.source.reloadStatus.successful, now: this.now(), refreshSeconds };
  }

  private history(name: string, days: number, limit: number): MeasurementRecord[] {
    const since = this.now() - days * 86400_000;
    return this.source.history(MEASUREMENT, name, { limit }).filter((e) => e.finishedAtMs >= since);
  }

  /**
   * A target's trend. Read from history once, in the background (a history of 120 runs with their
   * probes takes ~15 ms to read and parse: 1,000 targets must not block a request for 15 s); after
   * that a new measurement is appended from the snapshot, and the history is read again behind it
   * only in case several landed between two renders. null while the first read is queued.
   */
  private trend(s: TargetSnapshot): Trend | null {
    const t = this.trends.get(s.name);
    if (!t) {
      this.queueTrend(s.name);
      return null;
    }
    const newest = MEASUREMENT.of(s)?.latest;
    if (newest && (t.lastId === null || newest.id > t.lastId)) {
      const since = this.now() - DEFAULT_DAYS * 86400_000;
      t.points = [...t.points.filter((p) => p.finishedAtMs >= since), trendPoint(newest)].slice(-TREND_RUNS);
      t.lastId = newest.id;
      t.rev++;
      this.queueTrend(s.name);
    }
    return t;
  }

  private queueTrend(name: string): void {
    this.trendQueue.add(name);
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    const next = this.trendQueue.values().next();
    if (next.done) {
      this.pumping = false;
      if (this.trendsUnshown > 0) this.trendVersion++;
      this.trendsUnshown = 0;
      for (const resolve of this.drained.splice(0)) resolve();
      return;
    }
    const name = next.value;
    this.trendQueue.delete(name);
    // A target that went away (reload) is not read.
    if (this.source.target(name)) {
      try {
        const runs = this.history(name, DEFAULT_DAYS, TREND_RUNS);
        const old = this.trends.get(name);
        this.trends.set(name, { lastId: runs[0]?.id ?? null, points: trendOf(runs.map(historyRun)), rev: (old?.rev ?? 0) + 1 });
        if (++this.trendsUnshown >= TREND_BATCH) {
          this.trendVersion++;
          this.trendsUnshown = 0;
        }
      } catch {
        // A history that cannot be read now leaves the sparkline out; the next change tries again.
      }
    }
    setImmediate(this.pump);
  };

  /** Resolves once every queued trend has been read (tests, the benchmark). */
  trendsLoaded(): Promise<void> {
    if (!this.pumping) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** The overview row of a snapshot, rebuilt only when the target or its trend changed, or its status moved with time. */
  private item(s: TargetSnapshot, now: number): OverviewItem {
    const trend = this.trend(s);
    const key = `${s.version}|${MEASUREMENT.of(s)?.nextRunAt ?? ''}|${nextUtcMidnight(now)}|${trend ? trend.rev : 'loading'}`;
    let c = this.rows.get(s.name);
    if (!c || c.key !== key) {
      const row: OverviewRow = { target: targetView(s), trend: trend?.points ?? null };
      c = { key, row, item: overviewItem(row, now) };
      this.rows.set(s.name, c);
      this.lastRowsRebuilt++;
      return c.item;
    }
    if (c.item.changesAt !== null && now >= c.item.changesAt) {
      c.item = overviewItem(c.row, now);
      this.lastRowsRebuilt++;
    }
    return c.item;
  }

  /**
   * GET /: kept per (sort, refresh) until the daemon or a trend changes, a row's status would move
   * with time (a result going stale), the UTC day ends, or PAGE_MAX_AGE_MS passed (the page says
   * when it was put together).
   */
  overview(sort: SortSpec, refreshSeconds: number): RenderedPage {
    const now = this.now();
    const key = `${sort.key}|${sort.order}|${refreshSeconds}`;
    const state = `${this.source.version}|${this.trendVersion}|${this.source.reloadStatus.successful}`;
    const kept = this.overviewCache.get(key);
    if (kept && kept.key === state && now < kept.validUntil) return kept.page;
    this.lastRowsRebuilt = 0;
    const snaps = this.source.targets();
    const items = snaps.map((s) => this.item(s, now));
    this.rowsRebuilt += this.lastRowsRebuilt;
    this.overviewRenders++;
    // Rows and trends of targets that are gone (reload) are dropped with them.
    if (this.rows.size > snaps.length) {
      const live = new Set(snaps.map((s) => s.name));
      for (const name of this.rows.keys()) if (!live.has(name)) this.rows.delete(name);
      for (const name of this.trends.keys()) if (!live.has(name)) this.trends.delete(name);
    }
    const page = rendered(overviewPage(items, this.pageInfo(refreshSeconds), sort, passiveViews(this.source.passive())));
    let validUntil = Math.min(now + PAGE_MAX_AGE_MS, nextUtcMidnight(now));
    for (const i of items) if (i.changesAt !== null) validUntil = Math.min(validUntil, i.changesAt);
    // Pages of an older state are dropped rather than piling up.
    if (kept && kept.key !== state) this.overviewCache = new Map();
    this.overviewCache.set(key, { key: state, validUntil, page });
    return page;
  }

  /** GET /targets/:name; null when the target is not served here. */
  target(name: string, days: number, refreshSeconds: number): RenderedPage | null {
    const snap = this.source.target(name);
    if (!snap) return null;
    const now = this.now();
    const key = `${name}|${days}|${refreshSeconds}`;
    const kept = this.targetCache.get(key);
    if (kept && kept.version === snap.version && now - kept.at < PAGE_MAX_AGE_MS) return kept.page;
    const passive = passiveViews(this.source.passive());
    const matrix = HEARTBEAT.of(snap);
    const located = LOCATE.of(snap);
    const endpoint = normaliseEndpoint(`${snap.host.includes(':') ? `[${snap.host}]` : snap.host}:${snap.port}`);
    const data: TargetPageData = {
      target: targetView(snap),
      history: this.history(name, days, MAX_RUNS_READ).map(historyRun),
      days,
      heartbeat: matrix ? { configured: true, latest: kindRun(matrix.latestOk), lastAttempt: kindRun(matrix.latest) } : null,
      locate: located ? { latest: kindRun(located.latestOk), lastAttempt: kindRun(located.latest) } : null,
      passive: passive?.find((p) => p.server === endpoint) ?? null,
    };
    const page = rendered(targetPage(data, this.pageInfo(refreshSeconds)));
    this.targetCache.delete(key);
    this.targetCache.set(key, { version: snap.version, at: now, page });
    for (const oldest of this.targetCache.keys()) {
      if (this.targetCache.size <= MAX_TARGET_PAGES) break;
      this.targetCache.delete(oldest);
    }
    return page;
  }
}
