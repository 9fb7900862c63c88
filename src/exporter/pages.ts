// The data side of the status pages (`/`, `/targets/:name`): the one adapter between what the
// daemon knows and what src/pictures draws, and the caches that keep rendering cheap. The pages are
// drawn from the same JSON the API serves (json.ts), so what a page shows is what the API says.
//
// Cost: a target's overview row (its JSON, its history trend, its HTML) is kept until that target's
// snapshot changes, like /metrics' incremental rendering; a whole page is kept for PAGE_MAX_AGE_MS
// or until the daemon reports a change, and its gzip is made once per kept page.
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import type { Daemon } from '../daemon/daemon.ts';
import type { TargetSnapshot } from '../daemon/state.ts';
import type { HistoryEntry } from '../daemon/history.ts';
import type { PassiveSnapshot } from '../daemon/jobs/passive.ts';
import { DEATH_AGE_BUCKETS, normaliseEndpoint } from '../capture/passive-counters.ts';
import { targetJson } from './json.ts';
import type { HistoryRunJson, KindRun, OverviewRow, PageInfo, PassiveServerView, TargetPageData } from '../pictures/model.ts';
import { overviewItem, overviewPage, rowStatus, type OverviewItem, type SortSpec } from '../pictures/overview.ts';
import { targetPage, trendOf } from '../pictures/target-page.ts';

const gzip = promisify(gzipCb);

/** What the pages read of the daemon: kept to this, so the source can become a read model. */
export type PagesSource = Pick<Daemon, 'version' | 'snapshots' | 'snapshot' | 'history' | 'reloadStatus' | 'passiveSnapshot'>;

/** A kept page is served again for at most this long (the pages show ages and staleness). */
export const PAGE_MAX_AGE_MS = 5_000;
/** The trend of a row, and the target page's history, cover this many days by default. */
export const DEFAULT_DAYS = 30;
/** Most runs one history query reads for a page (the API's own page limit). */
export const MAX_RUNS_READ = 1000;
/** Runs behind a sparkline: enough for 30 days of the default 6-hourly schedule. */
export const TREND_RUNS = 120;
/** Kept target pages (distinct name × days × refresh); the oldest goes first. */
const MAX_TARGET_PAGES = 64;

export interface RenderedPage {
  html: string;
  gzip(): Promise<Buffer>;
}

function rendered(html: string): RenderedPage {
  let gz: Promise<Buffer> | null = null;
  // Level 1: the pages are repetitive markup; ~3x faster than the default at a similar size.
  return { html, gzip: () => (gz ??= gzip(Buffer.from(html, 'utf8'), { level: 1 })) };
}

function historyRun(e: HistoryEntry): HistoryRunJson {
  return { id: e.id, status: e.status, startedAt: e.startedAt, finishedAtMs: e.finishedAtMs, durationSeconds: e.durationSeconds, result: e.result, errorKind: e.errorKind, error: e.error };
}

function kindRun<T>(e: { finishedAtMs: number; status: string; error: string | null } | null, result: T | null | undefined): KindRun<T> | null {
  return e ? { finishedAt: new Date(e.finishedAtMs).toISOString(), status: e.status, error: e.error, result: result ?? null } : null;
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

export class PageRenderer {
  private readonly rows = new Map<string, RowCache>();
  private overviewCache = new Map<string, { version: number; at: number; page: RenderedPage }>();
  private readonly targetCache = new Map<string, { version: number; at: number; page: RenderedPage }>();
  /** Rows rebuilt by the last overview render (tests, the benchmark). */
  lastRowsRebuilt = 0;

  constructor(
    private readonly source: PagesSource,
    private readonly info: { version: string },
    private readonly now: () => number = Date.now,
  ) {}

  private pageInfo(refreshSeconds: number): PageInfo {
    return { version: this.info.version, reloadOk: this.source.reloadStatus.successful, now: this.now(), refreshSeconds };
  }

  private history(name: string, days: number, limit: number): HistoryEntry[] {
    const since = this.now() - days * 86400_000;
    return this.source.history.list(name, limit).filter((e) => e.finishedAtMs >= since);
  }

  /** The overview row of a snapshot, rebuilt only when the target changed or its status moved with time. */
  private item(s: TargetSnapshot, now: number): OverviewItem {
    // The UTC day too: a row writes times of `now`'s day without their date.
    const key = `${s.version}|${s.nextRunAt ?? ''}|${new Date(now).toISOString().slice(0, 10)}`;
    let c = this.rows.get(s.name);
    if (!c || c.key !== key) {
      const row: OverviewRow = { target: targetJson(s), trend: trendOf(this.history(s.name, DEFAULT_DAYS, TREND_RUNS).map(historyRun)) };
      c = { key, row, item: overviewItem(row, now) };
      this.rows.set(s.name, c);
      this.lastRowsRebuilt++;
      return c.item;
    }
    const fresh = rowStatus(c.row, now);
    if (fresh !== c.item.status) {
      c.item = overviewItem(c.row, now);
      this.lastRowsRebuilt++;
    }
    return c.item;
  }

  /** GET /: kept per (daemon version, sort, refresh) for PAGE_MAX_AGE_MS. */
  overview(sort: SortSpec, refreshSeconds: number): RenderedPage {
    const version = this.source.version;
    const now = this.now();
    const key = `${sort.key}|${sort.order}|${refreshSeconds}`;
    const kept = this.overviewCache.get(key);
    if (kept && kept.version === version && now - kept.at < PAGE_MAX_AGE_MS) return kept.page;
    this.lastRowsRebuilt = 0;
    const snaps = this.source.snapshots();
    const items = snaps.map((s) => this.item(s, now));
    // Rows of targets that are gone (reload) are dropped with them.
    if (this.rows.size > snaps.length) {
      const live = new Set(snaps.map((s) => s.name));
      for (const name of this.rows.keys()) if (!live.has(name)) this.rows.delete(name);
    }
    const page = rendered(overviewPage(items, this.pageInfo(refreshSeconds), sort, passiveViews(this.source.passiveSnapshot())));
    // One kept page per key; pages of older versions are dropped rather than piling up.
    if (kept && kept.version !== version) this.overviewCache = new Map();
    this.overviewCache.set(key, { version, at: now, page });
    return page;
  }

  /** GET /targets/:name; null when the target is not served here. */
  target(name: string, days: number, refreshSeconds: number): RenderedPage | null {
    const snap = this.source.snapshot(name);
    if (!snap) return null;
    const now = this.now();
    const key = `${name}|${days}|${refreshSeconds}`;
    const kept = this.targetCache.get(key);
    if (kept && kept.version === snap.version && now - kept.at < PAGE_MAX_AGE_MS) return kept.page;
    const passive = passiveViews(this.source.passiveSnapshot());
    const endpoint = normaliseEndpoint(`${snap.host.includes(':') ? `[${snap.host}]` : snap.host}:${snap.port}`);
    const data: TargetPageData = {
      target: targetJson(snap),
      history: this.history(name, days, MAX_RUNS_READ).map(historyRun),
      days,
      heartbeat: snap.heartbeat
        ? { configured: true, latest: kindRun(snap.heartbeat.latestOk, snap.heartbeat.latestOk?.matrix), lastAttempt: kindRun(snap.heartbeat.latest, snap.heartbeat.latest?.matrix) }
        : null,
      locate: snap.locate ? { latest: kindRun(snap.locate.latestOk, snap.locate.latestOk?.result), lastAttempt: kindRun(snap.locate.latest, snap.locate.latest?.result) } : null,
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
